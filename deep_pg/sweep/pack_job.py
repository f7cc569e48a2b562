"""A pack of sweep jobs run in one process (``hydra.launcher.pack``), by either launcher.

Each job still gets what Hydra gives a job: its composed config, its run directory with
``.hydra/`` (config, hydra config, overrides) and its own line in the sweep index; only the
process is shared. Each member's ``deep_pg.log`` holds the lines about that run
(``deep_pg.tracking.run_logs``); the pack's own log, with the pack's progress line, is the
process's output (the local launcher's ``pack_<n>.out``, a Slurm task's submitit log).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from deep_pg.sweep import index
from deep_pg.sweep.apps import job_run_dir
from deep_pg.sweep.jobs import JobFailed, failed_return, identify_job
from deep_pg.sweep.resolvers import register_resolvers
from deep_pg.tracking.run_logs import RunLogs

log = logging.getLogger("deep_pg")


def _save_hydra_files(config: DictConfig, task_cfg: DictConfig, run_dir: Path) -> None:
    """What Hydra's run_job writes into a job's output directory, with the runtime output_dir
    it sets first (``tests/test_sweeps.py`` compares these files with those of a job Hydra ran)."""
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = os.path.abspath(run_dir)
    if config.hydra.output_subdir is None:
        return
    hydra_dir = run_dir / str(config.hydra.output_subdir)
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(task_cfg, hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": config.hydra}), hydra_dir / "hydra.yaml")
    OmegaConf.save(config.hydra.overrides.task, hydra_dir / "overrides.yaml")


def run_pack_job(
    jobs: Sequence[tuple[Sequence[str], int, DictConfig]],
    job_id: str,
    workers: int | None = None,
) -> list[JobReturn]:
    """Train the jobs ``(overrides, job number, composed config)`` as one pack; one JobReturn per
    job. The configs are those the launcher composed for its preflight checks (``check_jobs``),
    not composed again here: at about 0.07 s each, composing a pack's configs was a large part of
    a pack process's start. ``workers``: sampling processes (None: one per available core, see
    deep_pg.trainer)."""
    from deep_pg.run import run_pack  # imports torch: keep launcher start light

    setup_globals()
    register_resolvers()
    configs = [identify_job(cfg, num, job_id) for _, num, cfg in jobs]
    run_dirs = [job_run_dir(c) for c in configs]
    sweep_dir = Path(str(configs[0].hydra.sweep.dir))
    task_cfgs = []
    for cfg, run_dir in zip(configs, run_dirs):
        task_cfg = copy.deepcopy(cfg)
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        run_dir.mkdir(parents=True, exist_ok=True)
        _save_hydra_files(cfg, task_cfg, run_dir)
        task_cfgs.append(task_cfg)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(levelname)s] - %(message)s")
    logging.getLogger().setLevel(logging.INFO)
    HydraConfig.instance().set_config(configs[0])
    run_logs = RunLogs(run_dirs)
    try:
        outcomes = run_pack(task_cfgs, run_dirs, sweep=sweep_dir.name, workers=workers)
    finally:
        run_logs.close()
    returns = []
    for (overrides, num, _), run_dir, outcome in zip(jobs, run_dirs, outcomes):
        if outcome.status == "completed":
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            ret.return_value = outcome.final_return
            entry = index.record(
                num,
                overrides,
                run_dir,
                "completed",
                skipped=outcome.skipped,
                launcher_job_id=job_id,
            )
        else:
            ret = failed_return(list(overrides), JobFailed(outcome.reason))
            entry = index.record(
                num, overrides, run_dir, "failed", reason=outcome.reason, launcher_job_id=job_id
            )
        index.append(sweep_dir, entry)
        returns.append(ret)
    return returns
