"""What names a run: the config sections that make it the run it is, the four ablation toggles
its sweep directory (``opt=1011``) and wandb tags are named by, and the parts of its name
(``run_name_parts``: sweep run directories, wandb run names). The one place training, the sweep
resolvers, wandb and the analysis read them from; torch-free, so the analysis imports it without
loading torch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

# A resumed run must match its checkpoint on these sections, and two runs equal on them are one
# experiment run twice (logging, checkpointing, probing and Hydra's own keys may differ).
IDENTITY_KEYS = ("algo", "env", "opt", "seed", "total_steps")

# The `opt` keys of the blog's 16-way ablation, in the order of the sweep's opt=XXXX bits.
ABLATION_TOGGLES = ("lr_anneal", "reward_scaling", "ortho_init", "value_clip")


def toggle_on(value: Any) -> bool:
    """An ablation toggle's on/off state: a bool, or opt.reward_scaling's mode (returns | rewards
    | none), off when 'none'."""
    return value != "none" if isinstance(value, str) else bool(value)


def run_identity(config: Mapping[str, Any]) -> dict:
    """The IDENTITY_KEYS sections of a nested config."""
    return {k: config.get(k) for k in IDENTITY_KEYS}


# The step size that matters for each algorithm family, and its name in run directories.
STEP_SIZE = {"ppo": ("policy_lr", "lr"), "pg": ("policy_lr", "lr"), "trpo": ("max_kl", "max_kl")}
# Overrides that change where results are reported, not what a run computes.
NOT_IDENTITY = ("logger", "checkpoint", "torch_threads", "sweep", "hydra")


def short_number(value: float) -> str:
    """3e-4 -> '3e-4', 4.5e-4 -> '4.5e-4', 0.13 -> '0.13': short and exact enough for a path."""
    if 1e-2 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:.6e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def run_name_parts(cfg: DictConfig, task_overrides: Sequence[str]) -> list[str]:
    """What names a run, in order: algo, env, the toggles' bits, the step size, the other
    overrides of what it computes, the seed (run directories, wandb run names)."""
    step_key, step_name = STEP_SIZE.get(cfg.algo.family, ("policy_lr", "lr"))
    # a bad value is named as typed: the job itself reports it, in one line
    scaling = cfg.opt.reward_scaling
    bits = "".join("1" if toggle_on(cfg.opt[name]) else "0" for name in ABLATION_TOGGLES)
    parts = [
        cfg.algo.name,
        cfg.env.name,
        f"opt={bits}",
        f"{step_name}={short_number(cfg.algo[step_key])}",
    ]
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
