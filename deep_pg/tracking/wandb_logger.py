"""wandb next to the run store: best effort, never allowed to stop or corrupt a run."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf

from deep_pg.identity import ABLATION_TOGGLES, run_name_parts, toggle_on

log = logging.getLogger(__name__)

RUN_ID_FILE = "wandb_run_id"
HYDRA_OVERRIDES = ".hydra/overrides.yaml"  # the command-line overrides Hydra keeps per run
X_AXIS = "env_steps"


def run_tags(cfg) -> list[str]:
    """algo, env and the on/off state of the four ablation toggles, for grouping in the UI."""
    toggles = [f"{name}={'on' if toggle_on(cfg.opt[name]) else 'off'}" for name in ABLATION_TOGGLES]
    return [cfg.algo.name, cfg.env.name, *toggles]


def run_name(cfg, run_dir: Path) -> str:
    """A name that tells the runs of a sweep apart, from what names the run's directory: algo,
    env, the toggles' bits, the step size, other overrides of what it computes, the seed (e.g.
    ``ppo-hopper-opt=1011-lr=4.5e-4-seed=0``). The overrides are the ones Hydra recorded in the
    run directory (``.hydra/overrides.yaml``); without that file, none."""
    recorded = Path(run_dir) / HYDRA_OVERRIDES
    overrides = list(OmegaConf.load(recorded)) if recorded.exists() else []
    return "-".join(run_name_parts(cfg, overrides))


def declare_x_axis(run) -> None:
    """Plot every metric against env steps, as the report does: runs with different
    algo.steps_per_iter then line up (wandb's own _step stays the iteration)."""
    run.define_metric(X_AXIS)
    run.define_metric("*", step_metric=X_AXIS)


def start_run(cfg, run_dir: Path, resumable: bool = False, **init) -> Any | None:
    """The one ``wandb.init``, for training runs and probe jobs alike: cfg.logger's project,
    entity and mode, files under ``run_dir``, wandb's console capture and system stats off, and
    ``init``'s fields (name, job_type, group, config, ...). ``resumable``: the run id kept in
    ``run_dir``, so resumes and requeues log to the same wandb run. None when logger.mode is
    disabled or wandb cannot start (said once: the local files are the record of truth)."""
    mode = str(getattr(cfg.logger.mode, "value", cfg.logger.mode))
    if mode == "disabled":
        return None
    try:
        import wandb

        if resumable:
            id_file = Path(run_dir) / RUN_ID_FILE
            if not id_file.exists():
                id_file.write_text(uuid.uuid4().hex[:16])
            init.update(id=id_file.read_text().strip(), resume="allow")
        return wandb.init(
            project=cfg.logger.project,
            entity=cfg.logger.entity,
            mode=cast(Any, mode),  # a LoggerMode value: online | offline
            dir=str(run_dir),
            **init,
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
        )
    except Exception as err:  # no network, bad credentials, broken install, ...
        give_up("start", err)
        return None


def give_up(action: str, err: Exception) -> None:
    """Say why wandb failed at ``action`` and quiet wandb's own output from here on."""
    log.warning(
        "wandb could not %s (%s: %s); continuing with the local files only "
        "(metrics.jsonl, summary.json, probes/)",
        action,
        type(err).__name__,
        err,
    )
    os.environ.setdefault("WANDB_SILENT", "true")


class WandbLogger:
    """Logs one dict per iteration. If wandb cannot start or log, says so once and goes quiet:
    the local run store is the record of truth and stays complete either way."""

    def __init__(self, cfg, run_dir: Path, config: dict[str, Any], group: str | None):
        self.run = start_run(
            cfg,
            run_dir,
            resumable=True,
            config=config,
            group=group,
            job_type=cfg.algo.name,
            tags=run_tags(cfg),
            name=run_name(cfg, run_dir),
            reinit="create_new",
        )  # packs: one wandb run per run
        if self.run is not None:
            try:
                declare_x_axis(self.run)
            except Exception as err:
                self._give_up("start", err)

    def log(self, row: dict[str, Any], step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log(row, step=step)
        except Exception as err:
            self._give_up("log", err)

    def log_summary(self, summary: dict[str, Any]) -> None:
        if self.run is None:
            return
        try:
            self.run.summary.update(summary)
        except Exception as err:
            self._give_up("write the summary", err)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        try:
            self.run.finish(exit_code=exit_code)
        except Exception as err:
            self._give_up("finish", err)
        self.run = None

    def _give_up(self, action: str, err: Exception) -> None:
        give_up(action, err)
        self.run = None
