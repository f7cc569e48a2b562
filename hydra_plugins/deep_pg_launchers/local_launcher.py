"""``hydra/launcher=local``: a multirun's jobs on this machine, in parallel, each in a fresh
process.

A fresh interpreter per job is what keeps jobs independent: no RNG, torch thread setting, wandb
run or module state can leak from one job to the next (a reused worker pool would carry them),
and a job that crashes or is killed takes nobody else with it. The first processes start as the
launch begins, before their jobs are known (``deep_pg.sweep.spares``): their imports overlap the
launcher's config checks. Jobs are single-threaded (the thread variables below, plus the config's
``torch_threads=1``), so ``n_jobs`` jobs fill ``n_jobs`` cores. Each job's stdout/stderr goes to
``<sweep dir>/.local_launcher/<job>.out``.

With ``pack=K`` (> 1) jobs that can share a process (``deep_pg.runtime.packing``) are grouped into
packs of up to K runs, ``min(packs, n_jobs)`` at a time, each pack on ``n_jobs // at_once`` cores
(``packs_at_once``): a pack on one core samples in its own process, a pack on more cores runs one
sampling worker per core.

Sharded probe jobs (``deep-pg-probe -m ... probe.shards=S``, ``deep_pg.sweep.shard_jobs``): all
shard jobs run first, ``n_jobs`` at a time; then each probe job reduces its shards' parts, or
fails naming its failed shards. ``pack`` applies to training jobs only.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from deep_pg.runtime.packing import available_cores, group_into_packs
from deep_pg.sweep import apps
from deep_pg.sweep.jobs import already_completed, record_failure, report
from deep_pg.sweep.preflight import check_jobs, check_pack_size, fail, launching
from deep_pg.sweep.shard_jobs import shard_failures, shard_jobs
from deep_pg.sweep.spares import ENTRY, Spares
from deep_pg.tracking.progress import count

log = logging.getLogger("deep_pg")

WORK_DIR = ".local_launcher"
SINGLE_THREADED = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    )
}


def job_env() -> dict[str, str]:
    """A job process's environment: this one's, single-threaded."""
    return {**os.environ, **SINGLE_THREADED}


def packs_at_once(num_packs: int, n_jobs: int) -> tuple[int, int]:
    """(packs run at a time, cores of each). A pack alternates between sampling and its update,
    and its sampling workers idle while it updates: with at least as many packs as cores, a pack
    per core sampling in its own process keeps every core busy all the time; fewer packs share
    the cores out as sampling workers."""
    at_once = max(1, min(num_packs, n_jobs))
    return at_once, n_jobs // at_once


def sampling_workers(cores: int, members: int) -> int:
    """One sampling worker per core, at most one per member; none where a pack has one core or
    one member (it samples in its own process: a worker would only add a hand-over)."""
    return 0 if cores <= 1 or members <= 1 else min(cores, members)


class LocalLauncher(Launcher):
    # check_jobs composes every job before anything starts: hydra/sweeper=deep_pg skips
    # Hydra's own validation pass, which would compose each a second time
    composes_every_job = True

    def __init__(self, n_jobs: int | None = None, pack: int = 1) -> None:
        if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs < 1):
            fail(
                f"invalid value for 'hydra.launcher.n_jobs': {n_jobs!r} "
                "(allowed: a positive number of parallel jobs, or null for one per core)"
            )
        self.n_jobs = n_jobs or available_cores()
        self.pack = check_pack_size(pack)
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.config: DictConfig | None = None
        self.spares = Spares(0, {})  # started by each launch

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config
        launching(Path(str(config.hydra.sweep.dir)))

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # job processes import torch & co. while the configs are composed and checked
        self.spares = Spares(min(self.n_jobs, len(job_overrides)), job_env())
        try:
            return self._launch(sweep_dir, job_overrides, initial_job_idx)
        finally:
            self.spares.close()

    def _launch(
        self, sweep_dir: Path, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        configs = check_jobs(self.hydra_context, self.config, job_overrides, initial_job_idx)
        (sweep_dir / WORK_DIR).mkdir(exist_ok=True)
        jobs = [
            (initial_job_idx + i, list(o), c)
            for i, (o, c) in enumerate(zip(job_overrides, configs))
        ]
        shards = shard_jobs(self.hydra_context, self.config, jobs, initial_job_idx + len(jobs))
        if self.pack > 1 and not any(apps.is_probe_job(c) for _, _, c in jobs):  # packs train
            returns = self._launch_packs(sweep_dir, jobs)
        else:
            log.info(
                "local launcher: %s, %d at a time, in %s",
                count(len(jobs), "job"),
                self.n_jobs,
                sweep_dir,
            )
            returns = self._launch_with_shards(sweep_dir, jobs, shards)
        report(returns, sweep_dir)
        return returns

    def _launch_with_shards(self, sweep_dir: Path, jobs: list, shards: list) -> list[JobReturn]:
        """Shard jobs first, then the jobs; a job whose shards failed fails without running."""
        with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:
            if shards:
                log.info(
                    "local launcher: %d shard jobs first (jobs %d-%d)",
                    len(shards),
                    shards[0].num,
                    shards[-1].num,
                )
            failures = shard_failures(
                shards,
                list(
                    pool.map(lambda j: self._start(sweep_dir, j.num, j.overrides, j.config), shards)
                ),
            )
            runnable = [job for job in jobs if job[0] not in failures]
            done = dict(
                zip(
                    (job[0] for job in runnable),
                    pool.map(lambda job: self._start(sweep_dir, *job), runnable),
                )
            )
        for num, overrides, config in jobs:
            if num in failures:
                done[num] = record_failure(
                    sweep_dir,
                    num,
                    overrides,
                    apps.job_run_dir(config),
                    failures[num],
                    launcher_job_id=None,
                )
        return [done[num] for num, _, _ in jobs]

    def _launch_packs(self, sweep_dir: Path, jobs: list) -> list[JobReturn]:
        returns: dict[int, JobReturn] = {}
        todo = []
        for i, (num, overrides, config) in enumerate(jobs):
            done = already_completed(num, overrides, config, sweep_dir)
            if done is not None:
                returns[i] = done
            else:
                todo.append(i)
        packs = [
            [todo[k] for k in pack]
            for pack in group_into_packs([jobs[i][2] for i in todo], self.pack)
        ]
        at_once, cores = packs_at_once(len(packs), self.n_jobs)
        self.spares.keep(min(at_once, len(packs)))
        already = f"{len(jobs) - len(todo)} already completed" if len(todo) < len(jobs) else ""
        if todo:
            log.info(
                "local launcher: %s in %s: %s%s to run in %s of up to %d (sizes %s), %d at a time",
                count(len(jobs), "job"),
                sweep_dir,
                f"{already}; " if already else "",
                len(todo),
                count(len(packs), "pack"),
                self.pack,
                ", ".join(str(len(p)) for p in packs),
                min(at_once, len(packs)),
            )
        else:
            log.info(
                "local launcher: %s in %s: all already completed, nothing to run",
                count(len(jobs), "job"),
                sweep_dir,
            )
        for k, pack in enumerate(packs):
            log.info("pack %d: jobs %s", k, ", ".join(str(jobs[i][0]) for i in pack))
        with ThreadPoolExecutor(max_workers=at_once) as pool:
            results = pool.map(
                lambda pk: self._run_pack(sweep_dir, pk[0], [jobs[i] for i in pk[1]], cores),
                enumerate(packs),
            )
            for pack, rets in zip(packs, results):
                returns.update(zip(pack, rets))
        return [returns[i] for i in range(len(jobs))]

    def _run_pack(self, sweep_dir: Path, number: int, jobs: list, cores: int) -> list[JobReturn]:
        rets, died = self._in_subprocess(
            sweep_dir,
            f"pack_{number}",
            {
                "jobs": [(overrides, num, config) for num, overrides, config in jobs],
                "job_id": f"local_pack_{number}",
                "workers": sampling_workers(cores, len(jobs)),
            },
        )
        if died:  # the pack died before it could write its results or its index lines
            reason = f"its pack's {died}"
            rets = [
                record_failure(
                    sweep_dir,
                    num,
                    overrides,
                    apps.job_run_dir(config),
                    reason,
                    launcher_job_id=f"local_pack_{number}",
                )
                for num, overrides, config in jobs
            ]
        for (num, _, config), ret in zip(jobs, rets):
            status = "completed" if ret.status == JobStatus.COMPLETED else "FAILED"
            log.info("job %d %s: %s", num, status, apps.job_run_dir(config))
        return rets

    def _in_subprocess(self, sweep_dir: Path, stem: str, job: dict) -> tuple[Any, str | None]:
        """Run ``job`` (a single job or a pack, as deep_pg.sweep.local_job reads it) in a fresh
        single-threaded process, its output in ``<work>/<stem>.out``; returns (what it
        returned, None), or (None, why) when the process died before writing a result."""
        work = sweep_dir / WORK_DIR
        payload, result, output = (
            work / f"{stem}.pkl",
            work / f"{stem}.result.pkl",
            work / f"{stem}.out",
        )
        result.unlink(missing_ok=True)
        output.unlink(missing_ok=True)  # a spare creates it when it takes the job
        payload.write_bytes(cloudpickle.dumps({"singletons": Singleton.get_state(), **job}))
        code = self.spares.run(payload, result, output)
        if code is None:  # no spare left: a process of its own
            with open(output, "w") as out:
                code = subprocess.run(
                    [*ENTRY, str(payload), str(result)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=job_env(),
                ).returncode
        payload.unlink(missing_ok=True)
        if not result.exists():
            return None, f"process died (exit code {code}); output: {output}"
        returned = cloudpickle.loads(result.read_bytes())
        result.unlink()
        return returned, None

    def _start(
        self, sweep_dir: Path, num: int, overrides: list[str], config: DictConfig
    ) -> JobReturn:
        run_dir = apps.job_run_dir(config)
        done = already_completed(num, overrides, config, sweep_dir)
        if done is not None:
            log.info("job %d already completed: %s", num, run_dir)
            return done
        return self._run(sweep_dir, num, overrides, run_dir)

    def _run(self, sweep_dir: Path, num: int, overrides: list[str], run_dir: Path) -> JobReturn:
        ret, died = self._in_subprocess(
            sweep_dir,
            str(num),
            {
                "hydra_context": self.hydra_context,
                "config": self.config,
                "task_function": self.task_function,
                "overrides": overrides,
                "job_num": num,
                "job_id": f"local_{num}",
            },
        )
        if died:  # it died before it could write its result or its index line
            reason = f"its {died}"
            ret = record_failure(
                sweep_dir, num, overrides, run_dir, reason, launcher_job_id=f"local_{num}"
            )
        status = "completed" if ret.status == JobStatus.COMPLETED else "FAILED"
        log.info("job %d %s: %s", num, status, run_dir)
        return ret
