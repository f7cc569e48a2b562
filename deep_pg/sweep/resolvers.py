"""OmegaConf resolvers used by the sweep configs (registered by ``deep_pg.cli`` and the launchers).

- ``${deep_pg.run_subdir:}``: a job's run directory inside the sweep directory, derived from what
  it runs, e.g. ``ppo/hopper/opt=1011/lr=4.5e-4/seed=0``. The same overrides always give the same
  directory, so a re-launched sweep finds its finished runs (skipped) and partial ones (resumed).
- ``${deep_pg.lr_grid:<env>}``: the policy learning-rate grid of an env, as a Hydra sweep string,
  read from ``conf/sweep/grids/policy_lr.yaml``.
- ``${deep_pg.python_bin:}``: the bin directory of the Python running the launch, so Slurm jobs put
  the same environment first on their PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast
from urllib.parse import urlparse

from omegaconf import DictConfig, OmegaConf

from deep_pg.identity import run_name_parts

LR_GRID_FILE = Path("sweep") / "grids" / "policy_lr.yaml"


def run_subdir(*, _root_: DictConfig) -> str:
    """<algo>/<env>/opt=<4 ablation bits>/<step size>/[<other overrides>/]seed=<seed>
    (``deep_pg.identity.run_name_parts``).

    A bit is 0 when its toggle is off (opt.reward_scaling=none)."""
    return "/".join(run_name_parts(_root_, list(_root_.hydra.overrides.task)))


def lr_grid(env: str, *, _root_: DictConfig) -> str:
    """The env's policy-LR grid as a Hydra sweep string ('1e-4,2e-4,...')."""
    path = _primary_config_dir(_root_) / LR_GRID_FILE
    grids = cast(DictConfig, OmegaConf.load(path))  # env -> list of learning rates
    if env not in grids:
        raise ValueError(
            f"+sweep=lr_grid has no grid for env={env} in {path} "
            f"(grids: {', '.join(map(str, grids))})"
        )
    return ",".join(str(lr) for lr in grids[env])


def _primary_config_dir(cfg: DictConfig) -> Path:
    """The conf/ directory this config was composed from (wherever DEEP_PG_CONF pointed)."""
    for source in cfg.hydra.runtime.config_sources:
        if source.provider == "main" and source.schema == "file":
            return Path(urlparse(source.path).path if "://" in source.path else source.path)
    raise ValueError("cannot find the primary config directory in hydra.runtime.config_sources")


def python_bin() -> str:
    return str(Path(sys.executable).parent)


def register_resolvers() -> None:
    """Idempotent: every process that composes or resolves a sweep config calls this."""
    for name, fn in (
        ("deep_pg.run_subdir", run_subdir),
        ("deep_pg.lr_grid", lr_grid),
        ("deep_pg.python_bin", python_bin),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
