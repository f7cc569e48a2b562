"""Checks a launcher makes before it starts or submits anything, and how it reports bad input.

Every job's config is composed here first, so a launch that would go wrong stops whole, with one
line naming the problem, instead of failing job by job (or, on Slurm, after queueing).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf

from deep_pg.config import ConfigError
from deep_pg.exits import fail
from deep_pg.sweep import apps
from deep_pg.sweep.jobs import job_config

# The sweep directory of the launch in progress: Hydra writes its multirun.yaml there before
# any check, so a launch stopped for bad input removes it if that is all it holds.
_launch: list[Path] = []


def launching(sweep_dir: Path) -> None:
    """Called by the launchers' setup, before Hydra writes anything for the launch."""
    _launch[:] = [Path(sweep_dir)]


def remove_unused_sweep_dir() -> None:
    """After bad input stopped the launch: its sweep directory goes if Hydra's multirun.yaml is
    all it holds (a relaunched sweep's directory holds its runs and stays)."""
    for sweep_dir in _launch:
        if sweep_dir.is_dir() and {p.name for p in sweep_dir.iterdir()} <= {"multirun.yaml"}:
            shutil.rmtree(sweep_dir, ignore_errors=True)
    _launch.clear()


def check_pack_size(pack) -> int:
    """hydra.launcher.pack: how many runs may share one process (1 = a process per run)."""
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        fail(
            f"invalid value for 'hydra.launcher.pack': {pack!r} "
            "(allowed: a positive integer, the most runs trained together in one process; "
            "1 = unpacked)"
        )
    return pack


def check_jobs(
    hydra_context: HydraContext,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
) -> list[DictConfig]:
    """The jobs' composed configs, after checking that their run directories are distinct and
    that no job would
    need a different sweep than the one launched (e.g. +sweep=lr_grid with env=hopper,walker2d:
    the grid is the env's, but one launch can only sweep one grid)."""
    launched = _params(config)
    owners: dict[Path, int] = {}
    configs = []
    for num, overrides in enumerate(job_overrides, start=initial_job_idx):
        cfg = job_config(hydra_context, config, overrides, num, f"preflight_{num}")
        try:
            apps.check(cfg)  # e.g. +algo.lr=1e-3: stop before anything is launched
        except ConfigError as err:
            fail(str(err))
        own = _params(cfg)
        if own != launched:
            changed = sorted(k for k in set(own) | set(launched) if own.get(k) != launched.get(k))
            key = changed[0]
            fail(
                f"job {num} ({' '.join(overrides)}) needs hydra.sweeper.params.{key}="
                f"{own.get(key)!r} but this launch sweeps {launched.get(key)!r}: the sweep depends "
                f"on a swept choice (per-env grids need one launch per env)"
            )
        run_dir = apps.job_run_dir(cfg)
        if run_dir in owners:
            fail(
                f"jobs {owners[run_dir]} and {num} would share the run directory {run_dir}: "
                "they differ only in keys left out of run directory names (logger.*, "
                "checkpoint.*, torch_threads); sweep those in separate sweep directories"
            )
        owners[run_dir] = num
        configs.append(cfg)
    return configs


def _params(cfg: DictConfig) -> dict[str, Any]:
    params = cfg.hydra.sweeper.get("params")
    return cast(dict, OmegaConf.to_container(params, resolve=True)) if params else {}
