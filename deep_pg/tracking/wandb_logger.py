"""wandb next to the run store: best effort, never allowed to stop or corrupt a run."""
from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

from deep_pg.config import reward_scaling_mode

log = logging.getLogger(__name__)

RUN_ID_FILE = "wandb_run_id"
X_AXIS = "env_steps"
ABLATION_TOGGLES = ("lr_anneal", "reward_scaling", "ortho_init", "value_clip")


def toggle_on(opt, name: str) -> bool:
    """Whether an ablation toggle is on; opt.reward_scaling is a mode, off only when 'none'."""
    if name == "reward_scaling":
        return reward_scaling_mode(opt[name]) != "none"
    return bool(opt[name])


def run_tags(cfg) -> list[str]:
    """algo, env and the on/off state of the four ablation toggles, for grouping in the UI."""
    toggles = [f"{name}={'on' if toggle_on(cfg.opt, name) else 'off'}" for name in ABLATION_TOGGLES]
    return [cfg.algo.name, cfg.env.name, *toggles]


def declare_x_axis(run) -> None:
    """Plot every metric against env steps, as the report does: runs with different
    algo.steps_per_iter then line up (wandb's own _step stays the iteration)."""
    run.define_metric(X_AXIS)
    run.define_metric("*", step_metric=X_AXIS)


class WandbLogger:
    """Logs one dict per iteration. If wandb cannot start or log, says so once and goes quiet:
    the local run store is the record of truth and stays complete either way."""

    def __init__(self, cfg, run_dir: Path, config: dict[str, Any], group: str | None):
        self.run = None
        mode = str(getattr(cfg.logger.mode, "value", cfg.logger.mode))
        if mode == "disabled":
            return
        try:
            import wandb

            id_file = Path(run_dir) / RUN_ID_FILE
            if not id_file.exists():  # the same id across resumes and requeues
                id_file.write_text(uuid.uuid4().hex[:16])
            self.run = wandb.init(
                project=cfg.logger.project, entity=cfg.logger.entity, mode=mode,
                dir=str(run_dir), config=config, group=group, job_type=cfg.algo.name,
                tags=run_tags(cfg), name=f"{cfg.algo.name}-{cfg.env.name}-s{cfg.seed}",
                id=id_file.read_text().strip(), resume="allow", reinit="create_new",  # packs: one per run
                settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
            )
            declare_x_axis(self.run)
        except Exception as err:  # no network, bad credentials, broken install, ...
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
        log.warning("wandb could not %s (%s: %s); continuing with the local run store only "
                    "(metrics.jsonl, summary.json)", action, type(err).__name__, err)
        self.run = None
        os.environ.setdefault("WANDB_SILENT", "true")
