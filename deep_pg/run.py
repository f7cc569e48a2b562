"""Run one training job in its Hydra output directory, honouring the run directory contract.

Outcomes: ``summary.json`` with status ``completed``; or, for a NaN/inf or a crash during
training, ``status: failed`` with the reason and the last good checkpoint kept. Bad configuration
or an unusable checkpoint is reported in one line with a non-zero exit, and a run directory that
held nothing of the user's is removed so it cannot be mistaken for a run.
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig

from deep_pg.algorithms.common import NonFiniteError
from deep_pg.checkpoint import CheckpointError
from deep_pg.config import ConfigError
from deep_pg.probes.schedule import ProbeSchedule
from deep_pg.sweep.preemption import checkpoint_before_requeue
from deep_pg.tracking.progress import Progress
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
    if store.summary_path.exists():
        summary = json.loads(store.summary_path.read_text())
        if summary.get("status") == "completed":
            mismatch = completed_run_mismatch(run_dir, cfg)
            if mismatch:
                fail_bad_input(mismatch, run_dir)
            log.info("run in %s already completed (final return %s); nothing to do",
                     run_dir, summary.get("final_return"))
            return summary.get("final_return")
    try:
        trainer = Trainer(cfg, run_dir)
        resumed = trainer.resume_if_possible()
    except (ConfigError, CheckpointError, ValueError) as err:
        fail_bad_input(str(err), run_dir)
    store.clear_summary()  # this directory is running again

    logger = WandbLogger(cfg, run_dir, trainer.config, group=cfg.logger.group or sweep)
    if not resumed:
        log.info("training %s on %s (seed %d) for %d iterations; run directory: %s",
                 cfg.algo.name, cfg.env.id, cfg.seed, trainer.num_iterations, run_dir)
    progress = Progress(trainer.num_iterations, trainer.iteration, cfg.logger.log_every)
    probes = ProbeSchedule(trainer, logger.run)  # probe.iterations: checkpoints + probes
    checkpoint_before_requeue(trainer)  # after all other hooks: Slurm requeue signal -> save
    try:
        probes.before_training(trainer)
        while trainer.iteration < trainer.num_iterations:
            row = trainer.train_iteration()
            store.append_metrics(row)
            logger.log(row, step=row["iteration"])
            progress.update(row)
            for hook in trainer.iteration_hooks:
                hook(trainer)
            if trainer.iteration % cfg.checkpoint.every == 0:
                trainer.save_checkpoint()
    except NonFiniteError as err:
        return _fail(trainer, store, logger, progress, f"non-finite values: {err}", run_dir)
    except Exception as err:
        _fail(trainer, store, logger, progress, f"{type(err).__name__}: {err}", run_dir)
        raise
    finally:
        probes.close()
        trainer.env.close()
    trainer.save_checkpoint()
    summary = trainer.summary("completed")
    store.write_summary(summary)
    progress.close()
    logger.log_summary(summary)
    logger.finish()
    log.info("done: final return %s after %d env steps; results in %s",
             summary["final_return"], summary["env_steps"], run_dir)
    print(f"deep-pg: run directory {run_dir}")
    return summary["final_return"]


def _fail(trainer, store, logger, progress, reason: str, run_dir: Path) -> None:
    """Record a failed run; the last good checkpoint is left as it was."""
    progress.close()
    log.error("run failed: %s (last good checkpoint: %s)", reason,
              run_dir / "checkpoints" / "last.pt")
    summary = trainer.summary("failed", reason)
    store.write_summary(summary)
    logger.log_summary(summary)
    logger.finish(exit_code=EXIT_FAILED)
    sys.exit(EXIT_FAILED)
