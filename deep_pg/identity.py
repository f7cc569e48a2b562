"""What names a run: the config sections that make it the run it is, and the four ablation
toggles its sweep directory (``opt=1011``) and wandb tags are named by. The one place training,
the sweep resolvers, wandb and the analysis read them from; torch-free, so the analysis imports it
without loading torch."""
from __future__ import annotations

from typing import Any, Mapping

from deep_pg.config import ConfigError, reward_scaling_mode

# A resumed run must match its checkpoint on these sections, and two runs equal on them are one
# experiment run twice (logging, checkpointing, probing and Hydra's own keys may differ).
IDENTITY_KEYS = ("algo", "env", "opt", "seed", "total_steps")

# The `opt` keys of the blog's 16-way ablation, in the order of the sweep's opt=XXXX bits.
ABLATION_TOGGLES = ("lr_anneal", "reward_scaling", "ortho_init", "value_clip")


def toggle_on(value: Any) -> bool:
    """An ablation toggle's on/off state. opt.reward_scaling is a mode (returns | rewards | none),
    off when 'none'; runs made before it had modes hold true/false (as booleans or as the strings
    'True'/'False' OmegaConf stored)."""
    return str(value).lower() not in ("false", "none")


def canonical_reward_scaling(value: Any) -> Any:
    """opt.reward_scaling in its canonical spelling (a sweep's `true`, a checkpoint's `returns`
    and an older checkpoint's True are one setting); a value deep_pg does not accept is kept as
    it is, so it differs and is reported."""
    try:
        return reward_scaling_mode(value)
    except ConfigError:
        return value


def run_identity(config: Mapping[str, Any]) -> dict:
    """The IDENTITY_KEYS sections of a nested config, opt.reward_scaling canonical."""
    identity = {k: config.get(k) for k in IDENTITY_KEYS}
    opt = identity.get("opt")
    if isinstance(opt, Mapping) and "reward_scaling" in opt:
        identity["opt"] = {**opt, "reward_scaling": canonical_reward_scaling(opt["reward_scaling"])}
    return identity
