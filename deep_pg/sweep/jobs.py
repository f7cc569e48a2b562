"""One sweep job, run in its own process by either launcher, and what a launch reports at the end.

``run_sweep_job`` runs the Hydra job and writes its index line. A run that does not complete
raises ``deep_pg.exits.RunExit`` carrying its one-line reason (a ``SystemExit``, which Hydra's
``run_job`` lets through); here it becomes a failed ``JobReturn``, so a launcher always gets a
result and one job's exit never takes others down. Any other exception of the task is kept by
reference as Hydra's ``run_job`` returns it. A failed job's return is a ``FailedJob`` whose
``error`` (a ``JobFailed`` with the reason) is readable without raising it. A requeue
(``Requeued``) is let through: submitit must see the process exit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict, read_write

from deep_pg.exits import RunExit
from deep_pg.runtime.preemption import Requeued
from deep_pg.sweep import apps, index
from deep_pg.sweep.resolvers import register_resolvers
from deep_pg.tracking.run_store import read_summary

log = logging.getLogger("deep_pg")


class JobFailed(RuntimeError):
    """A sweep job ended without completing its run."""


class SweepFailed(RuntimeError):
    """Some jobs of a launch failed; the others ran to their end."""


@dataclass
class FailedJob(JobReturn):
    """A failed job's JobReturn that keeps its error readable (``return_value`` raises it)."""

    error: BaseException | None = None


def job_config(
    hydra_context: HydraContext,
    config: DictConfig,
    overrides: Sequence[str],
    job_num: int,
    job_id: str,
) -> DictConfig:
    """The composed config of one job, as Hydra's own launchers build it."""
    register_resolvers()
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    return identify_job(sweep_config, job_num, job_id)


def identify_job(sweep_config: DictConfig, job_num: int, job_id: str) -> DictConfig:
    """``sweep_config`` (changed in place, also where Hydra left it read-only: a requeued Slurm
    task runs again on the configs it was given) as job ``job_num`` of the launcher's job
    ``job_id``."""
    with read_write(sweep_config.hydra.job), open_dict(sweep_config.hydra.job):
        sweep_config.hydra.job.id = job_id
        sweep_config.hydra.job.num = job_num
    return sweep_config


def run_sweep_job(
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    overrides: Sequence[str],
    job_num: int,
    job_id: str,
) -> JobReturn:
    setup_globals()
    sweep_config = job_config(hydra_context, config, overrides, job_num, job_id)
    sweep_dir = Path(str(sweep_config.hydra.sweep.dir))
    run_dir = apps.job_run_dir(sweep_config)
    was_done = apps.was_done(sweep_config)
    errors: list[BaseException] = []

    def task(cfg: DictConfig) -> Any:
        try:
            return task_function(cfg)
        except Exception as err:  # Hydra's run_job keeps it in a private field: keep our own
            errors.append(err)
            raise

    try:
        ret = run_job(
            hydra_context=hydra_context,
            task_function=task,
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    except Requeued:
        raise
    except RunExit as exit_:
        ret = failed_return(list(overrides), JobFailed(exit_.reason))
    except SystemExit as exit_:
        ret = failed_return(
            list(overrides), JobFailed(f"exited with code {exit_.code} (see its log)")
        )
    if ret.status != JobStatus.COMPLETED and not isinstance(ret, FailedJob):
        error = errors[-1] if errors else None
        reason = f"{type(error).__name__}: {error}" if error is not None else "failed (see its log)"
        ret = failed_return(list(overrides), JobFailed(reason))
    if isinstance(ret, FailedJob):
        entry = index.record(
            job_num, overrides, run_dir, "failed", reason=str(ret.error), launcher_job_id=job_id
        )
    else:
        entry = index.record(
            job_num, overrides, run_dir, "completed", skipped=was_done, launcher_job_id=job_id
        )
    index.append(sweep_dir, entry)
    return ret


def already_completed(
    num: int, overrides: Sequence[str], sweep_config: DictConfig, sweep_dir: Path
) -> JobReturn | None:
    """A re-launched sweep does not start a process for a job that is done with this job's config
    (``apps.job_done``: a completed run, a probe result with identical settings): it is indexed as
    skipped. Partial runs, and completed ones made with another config, are launched (the latter
    then fail with the reason, as run_training reports it)."""
    if not apps.job_done(sweep_config):
        return None
    run_dir = apps.job_run_dir(sweep_config)
    index.append(sweep_dir, index.record(num, overrides, run_dir, "completed", skipped=True))
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = read_summary(run_dir).get("final_return")
    return ret


def failed_return(overrides: list[str], error: BaseException) -> FailedJob:
    ret = FailedJob(overrides=overrides, status=JobStatus.FAILED, error=error)
    ret.return_value = error
    return ret


def record_failure(
    sweep_dir: Path,
    num: int,
    overrides: Sequence[str],
    run_dir: Path,
    reason: str,
    launcher_job_id: str | None,
) -> FailedJob:
    """For a job that wrote no index line (it died, or never ran): its line and failed return."""
    index.append(
        sweep_dir,
        index.record(
            num, overrides, run_dir, "failed", reason=reason, launcher_job_id=launcher_job_id
        ),
    )
    return failed_return(list(overrides), JobFailed(reason))


def report(returns: Sequence[JobReturn], sweep_dir: Path) -> None:
    """Log the launch's outcome; give every failed job the same error naming all failures, so
    the error Hydra shows for the first one tells the whole story."""
    failed = [(i, r) for i, r in enumerate(returns) if r.status != JobStatus.COMPLETED]
    where = Path(sweep_dir) / index.INDEX_FILE
    if not failed:
        log.info("all %d jobs completed; index: %s", len(returns), where)
        return
    lines = [
        f"  job {i} ({' '.join(r.overrides or [])}): {getattr(r, 'error', None) or 'failed'}"
        for i, r in failed
    ]
    error = SweepFailed(
        f"{len(failed)} of {len(returns)} jobs failed; the others ran to their "
        f"end (index: {where}):\n" + "\n".join(lines)
    )
    log.error("%s", error)
    for _, r in failed:
        r.return_value = error
