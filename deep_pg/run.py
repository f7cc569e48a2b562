"""Run one training job in its Hydra output directory, honouring the run directory contract.

Outcomes: ``summary.json`` with status ``completed``; or, for a NaN/inf or a crash, ``status:
failed`` with a one-line reason, the last good checkpoint kept and, for a crash, the full
traceback on stderr and in ``deep_pg.log``. Bad configuration or an unusable checkpoint is
reported in one line with exit code 2, and a run directory that held nothing of the user's is
removed so it cannot be mistaken for a run. A run with no checkpoint to resume from starts clean.
"""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig

from deep_pg.algorithms.common import NonFiniteError
from deep_pg.checkpoint import CheckpointCadence, CheckpointError
from deep_pg.config import ConfigError, check_known_keys
from deep_pg.probes.schedule import ProbeSchedule
from deep_pg.sweep.preemption import checkpoint_before_requeue
from deep_pg.tracking.failure import log_traceback, one_line_reason, summary_before_training
from deep_pg.tracking.progress import Progress, count, fmt_return
from deep_pg.tracking.run_store import RunStore
from deep_pg.tracking.wandb_logger import WandbLogger

log = logging.getLogger("deep_pg")

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def hydra_run_dir() -> tuple[Path, str | None]:
    """The job's output directory and, in a multirun, the sweep's name (for grouping)."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    sweep = None
    if str(hc.mode) == "RunMode.MULTIRUN":
        sweep = Path(hc.sweep.dir).name if hc.sweep.dir else None
    return Path(hc.runtime.output_dir), sweep


def _holds_user_data(run_dir: Path) -> bool:
    """Anything but Hydra's own bookkeeping (.hydra/, the job log) counts as the user's."""
    return any(p.name != ".hydra" and p.suffix != ".log" for p in run_dir.iterdir())


def fail_bad_input(message: str, run_dir: Path) -> None:
    print(f"deep-pg: error: {message}", file=sys.stderr)
    if run_dir.is_dir() and not _holds_user_data(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
    sys.exit(EXIT_BAD_INPUT)


def run_training(cfg: DictConfig, run_dir: Path | None = None) -> float | None:
    from deep_pg.trainer import Trainer, completed_run_mismatch

    sweep = None
    if run_dir is None:
        run_dir, sweep = hydra_run_dir()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    store = RunStore(run_dir)
    try:
        check_known_keys(cfg)
    except ConfigError as err:
        fail_bad_input(str(err), run_dir)
    summary = store.read_summary()
    if summary.get("status") == "completed":
        mismatch = completed_run_mismatch(run_dir, cfg)
        if mismatch:
            fail_bad_input(mismatch, run_dir)
        log.info("run in %s already completed (final return %s); nothing to do",
                 run_dir, fmt_return(summary.get("final_return")))
        return summary.get("final_return")
    try:
        trainer = Trainer(cfg, run_dir)
        resumed = trainer.resume_if_possible()
    except (ConfigError, CheckpointError) as err:
        fail_bad_input(str(err), run_dir)
    except Exception as err:
        _crash(err, store, summary_before_training(cfg, one_line_reason(err)))
    if not resumed:
        _start_clean(store)
    store.clear_summary()  # this directory is running again

    logger = WandbLogger(cfg, run_dir, trainer.config, group=cfg.logger.group or sweep)
    if not resumed:
        log.info("training %s on %s (seed %d) for %s; run directory: %s", cfg.algo.name,
                 cfg.env.id, cfg.seed, count(trainer.num_iterations, "iteration"), run_dir)
    progress = Progress(trainer.num_iterations, trainer.iteration, cfg.logger.log_every,
                        cfg.logger.log_every_seconds)
    probes = None
    try:
        probes = ProbeSchedule(trainer, logger.run)  # probe.iterations: checkpoints + probes
        checkpoint_before_requeue(trainer)  # after all other hooks: Slurm requeue signal -> save
        cadence = CheckpointCadence(cfg.checkpoint.every, cfg.checkpoint.every_minutes,
                                    also_at=cfg.probe.iterations)
        probes.before_training(trainer)
        while trainer.iteration < trainer.num_iterations:
            row = trainer.train_iteration()
            store.append_metrics(row)
            logger.log(row, step=row["iteration"])
            progress.update(row)
            for hook in trainer.iteration_hooks:
                hook(trainer)
            if cadence.due(trainer.iteration):
                trainer.save_checkpoint()
                cadence.written()
    except NonFiniteError as err:
        _fail(trainer.summary("failed", f"non-finite values: {err}"), store, logger, progress)
    except Exception as err:
        _crash(err, store, trainer.summary("failed", one_line_reason(err)), logger, progress)
    finally:
        if probes is not None:
            probes.close()
        trainer.env.close()
    trainer.save_checkpoint()
    summary = trainer.summary("completed")
    store.write_summary(summary)
    progress.close()
    logger.log_summary(summary)
    logger.finish()
    log.info("done: final return %s after %s env steps; results in %s",
             fmt_return(summary["final_return"]), f"{summary['env_steps']:,}", run_dir)
    print(f"deep-pg: run directory {run_dir}")
    return summary["final_return"]


def _start_clean(store: RunStore) -> None:
    """No checkpoint to resume from: what an earlier attempt left goes, so metrics are not
    appended to its lines (a completed run never gets here)."""
    removed = store.clear_partial_run()
    if removed:
        log.warning("no checkpoint to resume from in %s: starting from scratch, removed %s left "
                    "by an earlier attempt", store.run_dir, ", ".join(removed))


def _fail(summary: dict, store: RunStore, logger: WandbLogger | None = None,
          progress: Progress | None = None) -> None:
    """Record a failed run and exit 1; the last good checkpoint is left as it was."""
    if progress is not None:
        progress.close()
    log.error("run failed: %s (last good checkpoint, if any: %s)", summary["reason"],
              store.run_dir / "checkpoints" / "last.pt")
    store.write_summary(summary)
    if logger is not None:
        logger.log_summary(summary)
        logger.finish(exit_code=EXIT_FAILED)
    sys.exit(EXIT_FAILED)


def _crash(err: Exception, store: RunStore, summary: dict, logger: WandbLogger | None = None,
           progress: Progress | None = None) -> None:
    """An unexpected exception: a failed run whose traceback is kept (stderr, deep_pg.log)."""
    if progress is not None:
        progress.close()
    log_traceback(err)
    _fail(summary, store, logger)
