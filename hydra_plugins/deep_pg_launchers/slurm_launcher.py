"""``hydra/launcher=slurm``: hydra-submitit-launcher's Slurm launcher, made safe to relaunch.

On top of the plugin it extends, this launcher
- checks before submitting: unknown launcher options, sbatch present, the partition exists, every
  job's config composes into its own run directory; anything wrong stops the launch in one line;
- skips runs that completed in an earlier launch of the same sweep directory (no job is queued);
- waits for *every* job and reports all failures together (the plugin raises at the first failed
  task while the rest keep running), writing the index line of any job that died without one;
- runs each job through ``deep_pg.sweep.jobs.run_sweep_job``, so its index line is written where
  it ran, and a requeued job (``deep_pg.sweep.preemption``) resumes in the same run directory.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as PluginSlurm

from deep_pg.sweep import index
from deep_pg.sweep.jobs import (JobFailed, already_completed, failed_return, job_run_dir,
                                report, run_sweep_job)
from deep_pg.sweep.preflight import check_jobs, fail

log = logging.getLogger("deep_pg")

OPTIONS = sorted(f.name for f in dataclasses.fields(SlurmQueueConf) if f.name != "_target_")
GENERIC = {f.name for f in dataclasses.fields(BaseQueueConf)}  # submitit's cluster-neutral names
EXECUTOR_INIT = {"submitit_folder", "max_num_timeout"}


class SlurmLauncher(PluginSlurm):
    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(OPTIONS))
        if unknown:
            fail(f"'hydra.launcher.{unknown[0]}' is not an option of hydra/launcher=slurm "
                 f"(options: {', '.join(OPTIONS)})")
        super().__init__(**params)

    def __call__(self, overrides: Sequence[str], job_num: int,
                 singletons: Dict[type, Singleton]) -> JobReturn:
        """Runs on the compute node (and again, unchanged, after a requeue)."""
        import submitit

        assert self.hydra_context is not None and self.config is not None
        assert self.task_function is not None
        Singleton.set_state(singletons)
        return run_sweep_job(self.hydra_context, self.config, self.task_function, overrides,
                             job_num, submitit.JobEnvironment().job_id)

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        self._check_cluster()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        configs = check_jobs(self.hydra_context, self.config, job_overrides, initial_job_idx)
        run_dirs = [job_run_dir(c) for c in configs]
        returns: list[JobReturn | None] = []
        todo = []
        for i, overrides in enumerate(job_overrides):
            num = initial_job_idx + i
            done = already_completed(num, overrides, configs[i], sweep_dir)
            returns.append(done)
            if done is None:
                todo.append((i, num, list(overrides)))
        if len(todo) < len(job_overrides):
            log.info("%d of %d runs already completed in %s; not resubmitted",
                     len(job_overrides) - len(todo), len(job_overrides), sweep_dir)
        if todo:
            jobs = self._submit([(o, num, Singleton.get_state()) for _, num, o in todo])
            for (i, num, overrides), job in zip(todo, jobs):
                returns[i] = self._wait(job, num, overrides, run_dirs[i], sweep_dir)
        report(returns, sweep_dir)
        return returns

    def _check_cluster(self) -> None:
        if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
            fail("hydra/launcher=slurm needs Slurm's sbatch and sinfo on PATH (not found); on "
                 "one machine, `launchers/slurm-local.sh up` starts a local cluster")
        proc = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            fail(f"cannot reach the Slurm controller: sinfo says: {proc.stderr.strip()}")
        partitions = sorted(set(proc.stdout.split()))
        requested = self.params.get("partition")
        for name in (requested.split(",") if requested else []):
            if name not in partitions:
                fail(f"invalid value for 'hydra.launcher.partition': {name!r} "
                     f"(partitions on this cluster: {', '.join(partitions)})")

    def _submit(self, job_params: list[tuple]) -> list[Any]:
        """One sbatch call for the whole array: it is queued whole or not at all."""
        import submitit

        executor = submitit.AutoExecutor(
            cluster="slurm", folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params["max_num_timeout"])
        executor.update_parameters(**{
            key if key in GENERIC else f"slurm_{key}": value
            for key, value in self.params.items() if key not in EXECUTOR_INIT})
        try:
            jobs = executor.map_array(self, *zip(*job_params))
        except Exception as err:
            fail(f"sbatch refused the job array of {len(job_params)} jobs, nothing was "
                 f"submitted: {' '.join(str(err).split())}")
        log.info("submitted Slurm job array %s (%d jobs); waiting for them to end",
                 jobs[0].job_id.split("_")[0], len(jobs))
        return jobs

    def _wait(self, job: Any, num: int, overrides: list[str], run_dir: Path,
              sweep_dir: Path) -> JobReturn:
        try:
            return job.results()[0]
        except Exception as err:  # killed, out of memory, timed out without a requeue, ...
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            reason = f"Slurm job {job.job_id} ended {job.state} without a result: {first}"
            index.append(sweep_dir, index.record(num, overrides, run_dir, "failed",
                                                 reason=reason, launcher_job_id=job.job_id))
            return failed_return(overrides, JobFailed(reason))
