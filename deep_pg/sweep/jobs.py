"""One sweep job, run in its own process by either launcher, and what a launch reports at the end.

``run_sweep_job`` runs the Hydra job and writes its index line. ``run_training`` ends a failed run
with ``sys.exit`` (after writing ``summary.json``), which Hydra's ``run_job`` does not catch: here
it becomes a failed ``JobReturn``, so a launcher always gets a result and one job's exit never
takes others down. A requeue (``Requeued``) is let through: submitit must see the process exit.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from deep_pg.sweep import index
from deep_pg.sweep.preemption import Requeued
from deep_pg.sweep.resolvers import register_resolvers
from deep_pg.tracking.run_store import SUMMARY_FILE

log = logging.getLogger("deep_pg")


class JobFailed(RuntimeError):
    """A sweep job ended without completing its run."""


class SweepFailed(RuntimeError):
    """Some jobs of a launch failed; the others ran to their end."""


def job_config(hydra_context: HydraContext, config: DictConfig, overrides: Sequence[str],
               job_num: int, job_id: str) -> DictConfig:
    """The composed config of one job, as Hydra's own launchers build it."""
    register_resolvers()
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config.hydra.job) as job:
        job.id = job_id
        job.num = job_num
    return sweep_config


def job_run_dir(sweep_config: DictConfig) -> Path:
    return Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)


def run_sweep_job(hydra_context: HydraContext, config: DictConfig, task_function: TaskFunction,
                  overrides: Sequence[str], job_num: int, job_id: str) -> JobReturn:
    setup_globals()
    sweep_config = job_config(hydra_context, config, overrides, job_num, job_id)
    sweep_dir = Path(str(sweep_config.hydra.sweep.dir))
    run_dir = job_run_dir(sweep_config)
    was_completed = _summary(run_dir).get("status") == "completed"
    stderr = sys.stderr
    sys.stderr = tee = _ErrorLineTee(stderr)
    try:
        ret = run_job(hydra_context=hydra_context, task_function=task_function,
                      config=sweep_config, job_dir_key="hydra.sweep.dir",
                      job_subdir_key="hydra.sweep.subdir")
    except Requeued:
        raise
    except SystemExit as exit_:
        # A bad-input line comes before any summary is (re)written; a failed run has a summary.
        reason = (tee.error_line or _summary(run_dir).get("reason")
                  or f"exited with code {exit_.code} (see its log)")
        ret = failed_return(list(overrides), JobFailed(reason))
    finally:
        sys.stderr = stderr
    if ret.status == JobStatus.COMPLETED:
        entry = index.record(job_num, overrides, run_dir, "completed", skipped=was_completed,
                             launcher_job_id=job_id)
    else:
        reason = str(ret._return_value) or type(ret._return_value).__name__
        entry = index.record(job_num, overrides, run_dir, "failed", reason=reason,
                             launcher_job_id=job_id)
    index.append(sweep_dir, entry)
    return ret


def already_completed(num: int, overrides: Sequence[str], sweep_config: DictConfig,
                      sweep_dir: Path) -> JobReturn | None:
    """A re-launched sweep does not start a process for a run that completed with this job's
    config: its result is read from summary.json and indexed as skipped. Partial runs, and
    completed ones made with another config, are launched (the latter then fail with the
    reason, as run_training reports it)."""
    from deep_pg.trainer import completed_run_mismatch  # imports torch: keep launcher start light

    run_dir = job_run_dir(sweep_config)
    summary = _summary(run_dir)
    if summary.get("status") != "completed" or completed_run_mismatch(run_dir, sweep_config):
        return None
    index.append(sweep_dir, index.record(num, overrides, run_dir, "completed", skipped=True))
    ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    ret.return_value = summary.get("final_return")
    return ret


class _ErrorLineTee:
    """Writes through to stderr and keeps the last ``deep-pg: error: ...`` line, which is how a
    run reports bad input before it exits, so the index can say why the job failed."""

    PREFIX = "deep-pg: error: "

    def __init__(self, stream: Any):
        self.stream, self.error_line = stream, None

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith(self.PREFIX):
                self.error_line = line[len(self.PREFIX):]
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def failed_return(overrides: list[str], error: BaseException) -> JobReturn:
    ret = JobReturn(overrides=overrides, status=JobStatus.FAILED)
    ret.return_value = error
    return ret


def report(returns: Sequence[JobReturn], sweep_dir: Path) -> None:
    """Log the launch's outcome; give every failed job the same error naming all failures, so
    the error Hydra shows for the first one tells the whole story."""
    failed = [(i, r) for i, r in enumerate(returns) if r.status != JobStatus.COMPLETED]
    where = Path(sweep_dir) / index.INDEX_FILE
    if not failed:
        log.info("all %d jobs completed; index: %s", len(returns), where)
        return
    lines = [f"  job {i} ({' '.join(r.overrides or [])}): {r._return_value}" for i, r in failed]
    error = SweepFailed(f"{len(failed)} of {len(returns)} jobs failed; the others ran to their "
                        f"end (index: {where}):\n" + "\n".join(lines))
    log.error("%s", error)
    for _, r in failed:
        r.return_value = error


def _summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / SUMMARY_FILE
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, json.JSONDecodeError):
        return {}
