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
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from deep_pg.identity import ABLATION_TOGGLES, canonical_reward_scaling, toggle_on

# The step size that matters for each algorithm family, and its name in run directories.
STEP_SIZE = {"ppo": ("policy_lr", "lr"), "pg": ("policy_lr", "lr"), "trpo": ("max_kl", "max_kl")}
# Overrides that change where results are reported, not what a run computes.
NOT_IDENTITY = ("logger", "checkpoint", "torch_threads", "sweep", "hydra")
LR_GRID_FILE = Path("sweep") / "grids" / "policy_lr.yaml"


def short_number(value: float) -> str:
    """3e-4 -> '3e-4', 4.5e-4 -> '4.5e-4', 0.13 -> '0.13': short and exact enough for a path."""
    if 1e-2 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:.6e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def run_subdir(*, _root_: DictConfig) -> str:
    """<algo>/<env>/opt=<4 ablation bits>/<step size>/[<other overrides>/]seed=<seed>.

    A bit is 0 when its toggle is off (opt.reward_scaling=none or false)."""
    return "/".join(run_name_parts(_root_, list(_root_.hydra.overrides.task)))


def run_name_parts(cfg: DictConfig, task_overrides: Sequence[str]) -> list[str]:
    """What names a run, in order: algo, env, the toggles' bits, the step size, the other
    overrides of what it computes, the seed (run directories, wandb run names)."""
    step_key, step_name = STEP_SIZE.get(cfg.algo.family, ("policy_lr", "lr"))
    # a bad value is named as typed: the job itself reports it, in one line
    scaling = canonical_reward_scaling(cfg.opt.reward_scaling)
    bits = "".join("1" if toggle_on(cfg.opt[name]) else "0" for name in ABLATION_TOGGLES)
    parts = [cfg.algo.name, cfg.env.name, f"opt={bits}",
             f"{step_name}={short_number(cfg.algo[step_key])}"]
    shown = {"algo", "env", "seed", f"algo.{step_key}", *(f"opt.{t}" for t in ABLATION_TOGGLES)}
    # the bit says on/off; a scaling mode other than the ablation's two is named in full
    extras = [] if scaling in ("returns", "none") else [f"opt.reward_scaling={scaling}"]
    for override in OverridesParser.create().parse_overrides(list(task_overrides)):
        key = override.key_or_group
        if key in shown or key.split(".")[0].split("/")[0] in NOT_IDENTITY:
            continue
        value = "deleted" if override.is_delete() else override.get_value_element_as_str()
        extras.append(f"{key}={value}".replace("/", "_"))
    return [*parts, *sorted(extras), f"seed={cfg.seed}"]


def lr_grid(env: str, *, _root_: DictConfig) -> str:
    """The env's policy-LR grid as a Hydra sweep string ('1e-4,2e-4,...')."""
    path = _primary_config_dir(_root_) / LR_GRID_FILE
    grids = OmegaConf.load(path)
    if env not in grids:
        raise ValueError(f"+sweep=lr_grid has no grid for env={env} in {path} "
                         f"(grids: {', '.join(map(str, grids))})")
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
    for name, fn in (("deep_pg.run_subdir", run_subdir), ("deep_pg.lr_grid", lr_grid),
                     ("deep_pg.python_bin", python_bin)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
