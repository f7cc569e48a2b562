"""Run training jobs in their run directories, honouring the run directory contract.

``run_pack`` trains a pack: several runs in one process (``hydra.launcher.pack``), each with its
own run directory; ``run_training`` is a pack of one (the ``deep-pg`` command). Outcomes per
run: ``summary.json`` with status ``completed``; or, for a NaN/inf or a crash, ``status:
failed`` with a one-line reason, the last good checkpoint kept and, for a crash, the full
traceback on stderr and in ``deep_pg.log``. A run that diverges fails alone; the rest of its pack
goes on. Bad configuration or an unusable checkpoint is reported in one line (exit code 2 for
``deep-pg``), and a run directory that held nothing of the user's is removed so it cannot be
mistaken for a run. A run with no checkpoint to resume from starts clean.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from omegaconf import DictConfig

from deep_pg import exits
from deep_pg.checkpoint import CheckpointCadence, CheckpointError, latest
from deep_pg.config import ConfigError, check_known_keys
from deep_pg.exits import BadInput, RunFailed
from deep_pg.probes.schedule import ProbeSchedule
from deep_pg.runtime.preemption import checkpoint_before_requeue
from deep_pg.tracking.failure import log_traceback, one_line_reason, summary_before_training
from deep_pg.tracking.outputs import PackOutputs
from deep_pg.tracking.progress import Progress, count, fmt_return
from deep_pg.tracking.run_logs import FOR_EVERY_RUN, about
from deep_pg.tracking.run_store import RunStore, read_summary, training_completed
from deep_pg.tracking.wandb_logger import WandbLogger

log = logging.getLogger("deep_pg")


@dataclass
class Outcome:
    """How one run of a pack ended: completed (final return), failed or bad input (reason)."""

    status: str  # completed | failed | bad_input
    final_return: float | None = None
    reason: str | None = None
    skipped: bool = False  # it had completed before; nothing was run


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


def report_bad_input(message: str, run_dir: Path) -> Outcome:
    exits.report(message)
    if run_dir.is_dir() and not _holds_user_data(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
    return Outcome("bad_input", reason=message)


def run_training(cfg: DictConfig, run_dir: Path | None = None) -> float | None:
    """Train one run (a pack of one); raises BadInput (exit 2) or RunFailed (exit 1) with the
    reason if it did not complete."""
    sweep = None
    if run_dir is None:
        run_dir, sweep = hydra_run_dir()
    (outcome,) = run_pack([cfg], [Path(run_dir)], sweep)
    if outcome.status == "bad_input":
        raise BadInput(cast(str, outcome.reason))
    if outcome.status == "failed":
        raise RunFailed(cast(str, outcome.reason))
    if not outcome.skipped:
        print(f"deep-pg: run directory {run_dir}")
    return outcome.final_return


def run_pack(
    cfgs: Sequence[DictConfig],
    run_dirs: Sequence[Path],
    sweep: str | None = None,
    workers: int | None = None,
) -> list[Outcome]:
    """Train the runs ``cfgs`` in ``run_dirs`` together; one Outcome per run, in order.

    Completed runs are skipped; runs resuming from checkpoints at different iterations (a pack
    regrouped between launches) are trained as separate packs, one after the other.
    """
    from deep_pg.trainer import completed_run_mismatch

    outcomes: dict[int, Outcome] = {}
    start_at: dict[int, list[int]] = {}  # resume iteration -> runs
    for i, (cfg, run_dir) in enumerate(zip(cfgs, run_dirs)):
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            check_known_keys(cfg)
        except ConfigError as err:
            outcomes[i] = report_bad_input(str(err), run_dir)
            continue
        if training_completed(run_dir):
            summary = read_summary(run_dir)
            mismatch = completed_run_mismatch(run_dir, cfg)
            if mismatch:
                outcomes[i] = report_bad_input(mismatch, run_dir)
            else:
                with about(run_dir):
                    log.info(
                        "run in %s already completed (final return %s); nothing to do",
                        run_dir,
                        fmt_return(summary.get("final_return")),
                    )
                outcomes[i] = Outcome("completed", summary.get("final_return"), skipped=True)
            continue
        try:
            found = latest(run_dir)  # last.pt, or prev.pt if last.pt is unreadable
            iteration = found.state["counters"]["iteration"] if found else 0
        except (CheckpointError, KeyError) as err:
            outcomes[i] = report_bad_input(str(err), run_dir)
            continue
        start_at.setdefault(iteration, []).append(i)
    if len(start_at) > 1:
        log.info(
            "runs of this pack resume from different iterations: trained as %d packs", len(start_at)
        )
    for group in start_at.values():
        results = _train([cfgs[i] for i in group], [run_dirs[i] for i in group], sweep, workers)
        outcomes.update(zip(group, results))
    return [outcomes[i] for i in range(len(cfgs))]


def _train(cfgs, run_dirs, sweep, workers) -> list[Outcome]:
    from deep_pg.trainer import Trainer

    try:
        trainer = Trainer(cfgs, run_dirs, workers)
    except ConfigError as err:
        return [report_bad_input(str(err), d) for d in run_dirs]
    except Exception as err:  # a crash before training: the traceback is kept
        log_traceback(err)
        reason = one_line_reason(err)
        for cfg, run_dir in zip(cfgs, run_dirs):
            RunStore(run_dir).write_summary(summary_before_training(cfg, reason))
        return [Outcome("failed", reason=reason) for _ in cfgs]
    try:
        resumed = trainer.resume_if_possible()
    except (CheckpointError, ConfigError) as err:
        trainer.close()
        return [report_bad_input(str(err), d) for d in run_dirs]
    try:
        return _loop(trainer, resumed, sweep)
    finally:
        trainer.close()


def _loop(trainer, resumed: list[bool], sweep: str | None) -> list[Outcome]:
    pack = _Pack(trainer, resumed, sweep)
    try:
        pack.before_training()
        while pack.active and trainer.iteration < trainer.num_iterations:
            rows, diverged = trainer.train_iteration()
            pack.after_iteration(rows, diverged)
    except Exception as err:  # a crash: the traceback is kept, the runs fail, checkpoints stay
        pack.crashed(err)
        return pack.outcomes()
    finally:
        pack.close()
    pack.completed()
    return pack.outcomes()


class _Pack:
    """A pack while it trains. Its runs go by launch index ``m``; the trainer's members are the
    runs still training, ``active``, position ``p`` being run ``active[p]``."""

    def __init__(self, trainer, resumed: list[bool], sweep: str | None):
        self.trainer = trainer
        self.views, self.schedules, loggers = [], [], []
        for m, member in enumerate(trainer.members):
            with about(member.run_dir):
                loggers.append(_open_run(member, resumed[m], trainer.num_iterations, sweep))
                self.views.append(trainer.view(m))
                # probe.iterations: checkpoints + probes
                self.schedules.append(ProbeSchedule(self.views[m], loggers[m].run))
        if len(trainer.members) > 1:
            log.info(
                "pack of %d runs in one process (%d sampling workers)",
                len(trainer.members),
                trainer.sampler.workers,
                extra=FOR_EVERY_RUN,
            )
        cfg = trainer.cfg
        progress = Progress(
            trainer.num_iterations,
            trainer.iteration,
            cfg.logger.log_every,
            cfg.logger.log_every_seconds,
        )
        self.outputs = PackOutputs([m.store for m in trainer.members], loggers, progress)
        checkpoint_before_requeue(trainer)  # Slurm requeue signal -> save, after the probes
        self.cadence = CheckpointCadence(
            cfg.checkpoint.every,
            cfg.checkpoint.every_minutes,
            also_at={it for m in trainer.members for it in m.cfg.probe.iterations},
        )
        self.run_dirs = [m.run_dir for m in trainer.members]
        self.active = list(range(len(trainer.members)))
        self.ended: dict[int, Outcome] = {}

    def before_training(self) -> None:
        for m in self.active:
            with about(self.run_dirs[m]):
                self.schedules[m].before_training(self.views[m])

    def after_iteration(self, rows: list[dict], diverged: dict[int, str]) -> None:
        """In this order: the rows are recorded; diverged runs fail (the probes see sound runs
        only); the probes; the requeue check (the job leaves with them done); last.pt (a kill
        during the probes resumes before them, so they run again)."""
        self.outputs.iteration(
            {m: rows[p] for p, m in enumerate(self.active)}, {self.active[p] for p in diverged}
        )
        self._fail_diverged(diverged)
        self._probe()
        self._trainer_hooks()
        self._checkpoint_if_due()

    def _fail_diverged(self, diverged: dict[int, str]) -> None:
        if not diverged:
            return
        for p, reason in diverged.items():
            self._fail(p, f"non-finite values: {reason}")
        self.trainer.remove_members(list(diverged))
        self.active = [m for p, m in enumerate(self.active) if p not in diverged]

    def _probe(self) -> None:
        for m in self.active:
            with about(self.run_dirs[m]):
                for hook in self.views[m].iteration_hooks:
                    hook(self.views[m])

    def _trainer_hooks(self) -> None:
        """The requeue check (``deep_pg.runtime.preemption``): where the job may leave."""
        for hook in self.trainer.iteration_hooks:
            hook(self.trainer)

    def _checkpoint_if_due(self) -> None:
        if self.active and self.cadence.due(self.trainer.iteration):
            self.trainer.save_checkpoint()
            self.cadence.written()

    def crashed(self, err: Exception) -> None:
        self.outputs.close()  # the live bar ends before the traceback
        log_traceback(err)
        for p in range(len(self.active)):
            self._fail(p, one_line_reason(err))

    def completed(self) -> None:
        if self.active:
            self.trainer.save_checkpoint()
        for p, m in enumerate(self.active):
            summary = self.trainer.summary(p, "completed")
            self.outputs.completed(m, summary)
            with about(self.run_dirs[m]):
                log.info(
                    "done: final return %s after %s env steps; results in %s",
                    fmt_return(summary["final_return"]),
                    f"{summary['env_steps']:,}",
                    self.run_dirs[m],
                )
            self.ended[m] = Outcome("completed", summary["final_return"])

    def _fail(self, p: int, reason: str) -> None:
        """Record the failure of the run at position ``p``; its last good checkpoint is left as
        it was."""
        m = self.active[p]
        with about(self.run_dirs[m]):
            log.error(
                "run %s failed: %s (last good checkpoint: %s)",
                self.run_dirs[m],
                reason,
                self.run_dirs[m] / "checkpoints" / "last.pt",
            )
        self.outputs.failed(m, self.trainer.summary(p, "failed", reason))
        self.ended[m] = Outcome("failed", reason=reason)

    def outcomes(self) -> list[Outcome]:
        return [self.ended[m] for m in range(len(self.run_dirs))]

    def close(self) -> None:
        for schedule in self.schedules:
            schedule.close()
        self.outputs.close()


def _open_run(member, resumed: bool, num_iterations: int, sweep: str | None) -> WandbLogger:
    """Ready a run's directory to train (again); its wandb run."""
    if not resumed:
        _start_clean(member.store)
    member.store.clear_summary()  # this directory is running again
    cfg = member.cfg
    logger = WandbLogger(cfg, member.run_dir, member.config, group=cfg.logger.group or sweep)
    if not resumed:
        log.info(
            "training %s on %s (seed %d) for %s; run directory: %s",
            cfg.algo.name,
            cfg.env.id,
            cfg.seed,
            count(num_iterations, "iteration"),
            member.run_dir,
        )
    return logger


def _start_clean(store: RunStore) -> None:
    """No checkpoint to resume from: what an earlier attempt left goes, so metrics are not
    appended to its lines (a completed run never gets here)."""
    removed = store.clear_partial_run()
    if removed:
        log.warning(
            "no checkpoint to resume from in %s: starting from scratch, removed %s left "
            "by an earlier attempt",
            store.run_dir,
            ", ".join(removed),
        )
