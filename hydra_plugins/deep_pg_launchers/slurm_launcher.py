"""``hydra/launcher=slurm``: hydra-submitit-launcher's Slurm launcher, made safe to relaunch.

On top of the plugin it extends, this launcher
- checks before submitting: unknown launcher options, sbatch present, the partition exists, every
  job's config composes into its own run directory; anything wrong stops the launch in one line;
- skips runs that completed in an earlier launch of the same sweep directory (no job is queued);
- waits for *every* job and reports all failures together (the plugin raises at the first failed
  task while the rest keep running), writing the index line of any job that died without one;
- runs each job through ``deep_pg.sweep.jobs.run_sweep_job``, so its index line is written where
  it ran, and a requeued job (``deep_pg.runtime.preemption``) resumes in the same run directory;
- with ``pack=K`` (> 1), groups the jobs into packs (``deep_pg.runtime.packing``) and runs each
  pack as one array task (``PackTask``) whose ``cpus_per_task`` cores are its sampling workers;
- submits the shard jobs of sharded probes (``deep_pg.sweep.shard_jobs``) as one array
  (``ShardTask``) and each such probe job, its reduce, as a Slurm job that starts only after its
  own shards succeeded (``--dependency=afterok:<shard tasks>``); a reduce whose shards failed is
  cancelled (Slurm would keep it pending) and fails naming them.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as PluginSlurm
from omegaconf import DictConfig

from deep_pg.runtime.packing import group_into_packs
from deep_pg.sweep import apps, index
from deep_pg.sweep.jobs import (
    JobFailed,
    already_completed,
    failed_return,
    record_failure,
    report,
    run_sweep_job,
)
from deep_pg.sweep.pack_job import run_pack_job
from deep_pg.sweep.preflight import check_jobs, check_pack_size, fail, launching
from deep_pg.sweep.shard_jobs import ShardJob, shard_failures, shard_jobs
from deep_pg.tracking.progress import count
from hydra_plugins.deep_pg_launchers.slurm_config import DeepPgSlurmConf

log = logging.getLogger("deep_pg")

OPTIONS = sorted(f.name for f in dataclasses.fields(DeepPgSlurmConf) if f.name != "_target_")
GENERIC = {f.name for f in dataclasses.fields(BaseQueueConf)}  # submitit's cluster-neutral names
EXECUTOR_INIT = {"submitit_folder", "max_num_timeout"}


class SlurmLauncher(PluginSlurm):
    # check_jobs composes every job before anything starts: hydra/sweeper=deep_pg skips
    # Hydra's own validation pass, which would compose each a second time
    composes_every_job = True

    def __init__(self, pack: Any = 1, **params: Any) -> None:
        unknown = sorted(set(params) - set(OPTIONS))
        if unknown:
            fail(
                f"'hydra.launcher.{unknown[0]}' is not an option of hydra/launcher=slurm "
                f"(options: {', '.join(OPTIONS)})"
            )
        self.pack = check_pack_size(pack)
        super().__init__(**params)
        self.cores = self.params.get("cpus_per_task") or 1
        if self.pack > 1 and self.cores > self.pack:
            fail(
                f"invalid value for 'hydra.launcher.cpus_per_task': {self.cores} (allowed with "
                f"hydra.launcher.pack={self.pack}: at most {self.pack}; a pack runs one sampling "
                "worker per core, at most one per member, so more cores would idle)"
            )

    def setup(self, **kwargs: Any) -> None:
        super().setup(**kwargs)
        launching(Path(str(kwargs["config"].hydra.sweep.dir)))

    def __call__(
        self, overrides: Sequence[str], job_num: int, singletons: dict[type, Singleton]
    ) -> JobReturn:
        """Runs on the compute node (and again, unchanged, after a requeue)."""
        import submitit

        assert self.hydra_context is not None and self.config is not None
        assert self.task_function is not None
        Singleton.set_state(singletons)
        return run_sweep_job(
            self.hydra_context,
            self.config,
            self.task_function,
            overrides,
            job_num,
            submitit.JobEnvironment().job_id,
        )

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        self._check_cluster()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        configs = check_jobs(self.hydra_context, self.config, job_overrides, initial_job_idx)
        jobs = [
            (initial_job_idx + i, list(o), c)
            for i, (o, c) in enumerate(zip(job_overrides, configs))
        ]
        shards = shard_jobs(self.hydra_context, self.config, jobs, initial_job_idx + len(jobs))
        returns = {num: already_completed(num, o, c, sweep_dir) for num, o, c in jobs}
        todo = [job for job in jobs if returns[job[0]] is None]
        if len(todo) < len(jobs):
            log.info(
                "%d of %d runs already completed in %s; not resubmitted",
                len(jobs) - len(todo),
                len(jobs),
                sweep_dir,
            )
        if todo:
            returns.update(self._run_jobs(sweep_dir, todo, shards))
        ordered = [cast(JobReturn, returns[num]) for num, _, _ in jobs]  # every job's, now
        report(ordered, sweep_dir)
        return ordered

    def _run_jobs(
        self, sweep_dir: Path, todo: list, shards: list[ShardJob]
    ) -> dict[int, JobReturn]:
        """Shard jobs first (one array), then the jobs, a sharded probe's after its own shards
        (afterok); waits for all. A probe job whose shards failed would pend forever
        (DependencyNeverSatisfied): it is cancelled and fails naming them."""
        shard_tasks = self._submit_shards(sweep_dir, shards)
        after: dict[int, list[str]] = {}
        for shard, task in shard_tasks:
            after.setdefault(shard.reduce, []).append(task.job_id)
        submitted = self._submit_jobs(todo, after)
        failures = shard_failures(
            [shard for shard, _ in shard_tasks],
            [
                self._wait(task, [(s.num, s.overrides, apps.job_run_dir(s.config))], sweep_dir)[0]
                for s, task in shard_tasks
            ],
        )
        returns: dict[int, JobReturn] = {}
        for members, task in submitted:
            num, overrides, run_dir = members[0]
            if num in failures:
                task.cancel(check=False)
                log.error(
                    "probe job %d (Slurm job %s) cancelled: %s", num, task.job_id, failures[num]
                )
                returns[num] = record_failure(
                    sweep_dir, num, overrides, run_dir, failures[num], launcher_job_id=task.job_id
                )
            else:
                returns.update(zip((m[0] for m in members), self._wait(task, members, sweep_dir)))
        return returns

    def _submit_shards(self, sweep_dir: Path, shards: list[ShardJob]) -> list[tuple[ShardJob, Any]]:
        """The shard jobs whose parts are not all drawn already, as one array."""
        todo = [
            s for s in shards if already_completed(s.num, s.overrides, s.config, sweep_dir) is None
        ]
        if not todo:
            return []
        params = [(s.overrides, s.num, Singleton.get_state()) for s in todo]
        return list(zip(todo, self._submit(ShardTask(self), params, f"{len(todo)} shard jobs")))

    def _submit_jobs(self, todo: list, after: dict[int, list[str]]) -> list[tuple[list, Any]]:
        """Each array task's members (number, overrides, run directory) and the task: the jobs
        without shards to wait for in one array, each other job on its own after them."""
        plain = [job for job in todo if job[0] not in after]
        submitted = self._submit_tasks(plain) if plain else []
        for num, overrides, config in todo:
            if num in after:
                dependency = "afterok:" + ":".join(after[num])
                [task] = self._submit(
                    self,
                    [(overrides, num, Singleton.get_state())],
                    f"probe job {num}, {dependency}",
                    dependency,
                )
                submitted.append(([(num, overrides, apps.job_run_dir(config))], task))
        return submitted

    def _submit_tasks(self, jobs: list) -> list[tuple[list, Any]]:
        """One array task per job, or with ``pack`` > 1 (training only) per pack."""
        members = [(num, overrides, apps.job_run_dir(config)) for num, overrides, config in jobs]
        if self.pack == 1 or any(apps.is_probe_job(config) for _, _, config in jobs):
            params: list[tuple[Any, ...]] = [(o, num, Singleton.get_state()) for num, o, _ in jobs]
            return [
                ([m], task)
                for m, task in zip(members, self._submit(self, params, f"{len(jobs)} jobs"))
            ]
        grouped = group_into_packs([config for _, _, config in jobs], self.pack)
        packs = [[members[k] for k in pack] for pack in grouped]
        log.info(
            "slurm launcher: %s in %s of up to %d (sizes %s), one array task each with "
            "%d cpus (its sampling workers)",
            count(len(jobs), "job"),
            count(len(packs), "pack"),
            self.pack,
            ", ".join(str(len(p)) for p in packs),
            self.cores,
        )
        for k, pack in enumerate(packs):
            log.info("pack %d: jobs %s", k, ", ".join(str(num) for num, _, _ in pack))
        params = [
            ([(o, num, c) for num, o, c in (jobs[k] for k in pack)], Singleton.get_state())
            for pack in grouped
        ]
        what = f"{count(len(packs), 'pack')} of {count(len(jobs), 'job')}"
        return list(zip(packs, self._submit(PackTask(self), params, what)))

    def _check_cluster(self) -> None:
        if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
            fail(
                "hydra/launcher=slurm needs Slurm's sbatch and sinfo on PATH (not found); on "
                "one machine, `launchers/slurm-local.sh up` starts a local cluster"
            )
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=60
        )
        if proc.returncode != 0:
            fail(f"cannot reach the Slurm controller: sinfo says: {proc.stderr.strip()}")
        partitions = sorted(set(proc.stdout.split()))
        requested = self.params.get("partition")
        for name in requested.split(",") if requested else []:
            if name not in partitions:
                fail(
                    f"invalid value for 'hydra.launcher.partition': {name!r} "
                    f"(partitions on this cluster: {', '.join(partitions)})"
                )

    def _submit(
        self, task: Any, task_params: list[tuple], what: str, dependency: str | None = None
    ) -> list[Any]:
        """One sbatch call for the whole array: it is queued whole or not at all. ``dependency``:
        sbatch's (the array starts only once it is satisfied)."""
        import submitit

        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params["max_num_timeout"],
        )
        executor.update_parameters(
            **{
                key if key in GENERIC else f"slurm_{key}": value
                for key, value in self.params.items()
                if key not in EXECUTOR_INIT
            }
        )
        if dependency:
            executor.update_parameters(slurm_dependency=dependency)
        try:
            jobs = executor.map_array(task, *zip(*task_params))
        except Exception as err:
            fail(
                f"sbatch refused the job array of {what}, nothing was submitted: "
                f"{' '.join(str(err).split())}"
            )
        log.info(
            "submitted Slurm job array %s (%s); waiting for them to end",
            jobs[0].job_id.split("_")[0],
            what,
        )
        return jobs

    def _wait(
        self, job: Any, members: list[tuple[int, list[str], Path]], sweep_dir: Path
    ) -> list[JobReturn]:
        """One result per member of the array task (one job, or a pack's jobs)."""
        try:
            result = job.results()[0]
            return result if isinstance(result, list) else [result]
        except Exception as err:  # killed, out of memory, timed out without a requeue, ...
            # A shard job raises after writing its index line (ShardTask): its reason is there.
            written = {
                line["job"]: line["reason"]
                for line in index.read(sweep_dir)
                if line["launcher_job_id"] == job.job_id and line["status"] == "failed"
            }
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            reason = f"Slurm job {job.job_id} ended {job.state} without a result: {first}"
            return [
                failed_return(overrides, JobFailed(written[num]))
                if num in written
                else record_failure(
                    sweep_dir, num, overrides, run_dir, reason, launcher_job_id=job.job_id
                )
                for num, overrides, run_dir in members
            ]


class ShardTask:
    """What a shard job of a sharded probe runs (``deep_pg.sweep.shard_jobs``): the job as any
    other, but a failed one raises once its index line is written, so that Slurm records it
    FAILED and never starts the probe job that waits for it (afterok). ``checkpoint``: requeued
    on a time limit, it draws only the parts still missing."""

    def __init__(self, launcher: SlurmLauncher):
        self.launcher = launcher

    def __call__(
        self, overrides: list[str], job_num: int, singletons: dict[type, Singleton]
    ) -> JobReturn:
        ret = self.launcher(overrides, job_num, singletons)
        if ret.status != JobStatus.COMPLETED:
            raise ret.error  # type: ignore[attr-defined]  # a failed job's return is a FailedJob
        return ret

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


class PackTask:
    """What one array task of a packed launch runs on its compute node: the pack's jobs in one
    process (``run_pack_job``) with one sampling worker per allocated core. ``checkpoint`` is
    what lets submitit requeue it: the same pack runs again and every member resumes from the
    checkpoint the requeue hook saved (``deep_pg.runtime.preemption``)."""

    def __init__(self, launcher: SlurmLauncher):
        self.cores = launcher.cores

    def __call__(
        self, jobs: list[tuple[list[str], int, DictConfig]], singletons: dict[type, Singleton]
    ) -> list[JobReturn]:
        import submitit

        Singleton.set_state(singletons)
        # Passed, not read from the CPU affinity: clusters without task/affinity do not pin.
        workers = self.cores if len(jobs) > 1 else None
        return run_pack_job(jobs, submitit.JobEnvironment().job_id, workers=workers)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)
