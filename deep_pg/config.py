"""Typed schemas behind the YAML in ``conf/``.

The dataclasses are registered in Hydra's ConfigStore and ``conf/config.yaml`` lists the schema
first in its defaults, so every YAML file and every command-line override is merged into a typed
node: a typo (``opt.lr_aneal``) or a wrong type (``seed=abc``) fails at composition with the key
named. Constraints a type cannot express (positive counts, divisibility) are checked by
:func:`validate`, which raises :class:`ConfigError` with the key, the bad value and what is allowed.

Each default lives in one place. A key that every option of its config group sets (``algo.name``,
``env.version``, ...) is MISSING here and the group's YAML files are its source; every other key
has its default here, and the YAML files set only the values that differ from it
(tests/test_config_defaults.py). ``deep-pg --cfg job`` prints the composed config.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, cast

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from deep_pg.config_errors import ConfigError, UnknownKey
from deep_pg.probe_settings import validate_probe


class Activation(str, Enum):
    tanh = "tanh"
    relu = "relu"


class Baseline(str, Enum):
    value = "value"  # the agent's learned value network
    zero = "zero"  # no baseline: discounted returns stand in for advantages


class LoggerMode(str, Enum):
    offline = "offline"
    online = "online"
    disabled = "disabled"


ALGO_FAMILIES = ("ppo", "pg", "trpo")
ALGO_NAMES = ("ppo", "ppo_m", "ppo_noclip", "trpo", "trpo_plus", "pg")
# env.version of each env option: v5 is gymnasium's current MuJoCo version, v4 runs the model files
# of the v2/v3 versions the papers used (v2/v3 themselves need mujoco-py); docs/fidelity.md.
ENV_VERSIONS = {
    "hopper": ("v5", "v4"),
    "walker2d": ("v5", "v4"),
    "halfcheetah": ("v5", "v4"),
    "humanoid": ("v5", "v4"),
    "pendulum": ("v1",),
}


@dataclass
class EnvConfig:
    name: str = MISSING  # the config-group option (hopper, walker2d, ...)
    id: str = MISSING  # gymnasium id, e.g. Hopper-v5 (the env's YAML builds it from `version`)
    # gymnasium version of the task (ENV_VERSIONS), set by each env option; null: id as given
    version: str | None = MISSING
    num_envs: int = 1  # environments stepped together by the training sampler
    max_episode_steps: int | None = None  # null = the gymnasium spec's time limit
    # true: a time-limit truncation bootstraps from V(final obs); false: it is treated as
    # terminal, which is what the reference implementation did.
    timeout_bootstrap: bool = True
    # false: episodes run on across iterations; true: every environment is reset when an
    # iteration starts (its running return for reward scaling too), as the released code did.
    reset_each_iteration: bool = False


@dataclass
class AlgoConfig:
    name: str = MISSING
    family: str = MISSING  # ppo | pg | trpo: which update rule runs
    steps_per_iter: int = 2048
    gamma: float = 0.99
    gae_lambda: float = 0.95
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    init_log_std: float = 0.0
    policy_lr: float = 3e-4
    value_lr: float = 3e-4
    adam_eps: float = 1e-5
    epochs: int = 10  # policy epochs over the batch (ppo, pg)
    value_epochs: int = 10
    # minibatches per epoch: of the policy and value epochs (ppo), of the value epochs (pg, trpo)
    num_minibatches: int = 32
    clip_eps: float | None = 0.2  # PPO ratio clip; null = no clipping (PPO-NoClip)
    value_clip_eps: float = 0.2  # epsilon of the clipped value loss (opt.value_clip)
    entropy_coef: float = 0.0
    baseline: Baseline = Baseline.value
    # TRPO
    max_kl: float = 0.01
    max_kl_final: float | None = None  # linear schedule of delta to this value; null = constant
    cg_steps: int = 10
    cg_damping: float = 0.1
    fisher_frac: float = 0.1
    max_backtracks: int = 10


REWARD_SCALING_MODES = ("returns", "rewards", "none")
GRAD_CLIP_SCOPES = ("all", "ppo_policy")


@dataclass
class OptConfig:
    """Code-level optimizations; each acts in one place, found by grepping its key."""

    lr_anneal: bool = True
    reward_scaling: str = "returns"  # returns | rewards | none (REWARD_SCALING_MODES)
    ortho_init: bool = True
    value_clip: bool = True
    obs_norm: bool = True
    obs_clip: float | None = 10.0  # of normalized observations (inactive without obs_norm)
    reward_clip: float | None = 10.0  # of scaled rewards (inactive with reward_scaling=none)
    grad_clip: float | None = None
    # all: opt.grad_clip bounds the policy and value networks of every algorithm; ppo_policy: only
    # the policy network of PPO and PG, as the released code (value network and TRPO unclipped).
    grad_clip_scope: str = "all"
    adv_norm: bool = True
    activation: Activation = Activation.tanh


@dataclass
class LoggerConfig:
    """logger=wandb (conf/logger/wandb.yaml sets nothing: these are its values)."""

    mode: LoggerMode = LoggerMode.offline  # offline needs no account; online | disabled
    project: str = "deep_pg"
    entity: str | None = None
    group: str | None = None  # null = the sweep / experiment name
    # Without a terminal (piped, Slurm) a plain progress line is logged every log_every
    # iterations or log_every_seconds, whichever comes first.
    log_every: int = 10
    log_every_seconds: float = 30.0


@dataclass
class CheckpointConfig:
    """checkpoints/last.pt is written every ``every`` iterations or ``every_minutes``, whichever
    comes first, and at probe iterations and the end. A write costs ~10 ms (1-2 MB, fsync'd) against
    ~1 s per Hopper/Humanoid iteration, so a kill loses at most about a minute of training."""

    every: int = 10
    every_minutes: float = 1.0


@dataclass
class ProbeConfig:
    """The paper's probes (deep_pg/probes, docs/probes.md); checked by deep_pg.probe_settings."""

    name: str = "none"  # none | gradient | value | baselines | landscape | trust_region | all
    iterations: list[int] = field(default_factory=list)  # 0 = before the first update
    sample_counts: list[int] = field(default_factory=lambda: [100, 1000, 10000, 100000])
    num_estimates: int = 10  # K independent estimates (trials) per sample count
    true_samples: int = 1_000_000  # pairs of the "true" gradient / step
    value_fit_samples: int = 200_000  # pairs the "true" value network is fit on (paper: 5e6)
    heldout_samples: int = 2048  # fresh pairs of the held-out batch (value, trust_region)
    landscape_samples: list[int] = field(default_factory=lambda: [2000, 20000, 100000])
    landscape_grid: int = 7  # points per axis
    landscape_max: float = 3.0  # axis range [0, max] in step / random-direction units
    landscape_step_samples: list[int] = field(default_factory=lambda: [2048])
    bootstrap_resamples: int = 500
    num_workers: int = 2  # sampling processes
    envs_per_worker: int = 16
    # deep-pg-probe jobs the gradient/baselines/landscape samples are split over (docs/probes.md)
    shards: int = 1
    part_pairs: int = (
        65536  # pairs per part of the "true" gradient sample and the baselines' fit data
    )


@dataclass
class Config:
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    opt: OptConfig = field(default_factory=OptConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    seed: int = 0
    total_steps: int = 1_000_000  # env steps of training
    torch_threads: int = 1  # these networks are tiny: one thread is fastest


def register_configs() -> None:
    ConfigStore.instance().store(name="deep_pg_schema", node=Config)


def _require(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


def validate(cfg: DictConfig | Config) -> None:
    """Check the constraints a type cannot express; raise ConfigError naming the first bad key."""
    a, e, o = cfg.algo, cfg.env, cfg.opt
    _require(a.name in ALGO_NAMES, "algo.name", a.name, " | ".join(ALGO_NAMES))
    _require(a.family in ALGO_FAMILIES, "algo.family", a.family, " | ".join(ALGO_FAMILIES))
    _require(cfg.total_steps > 0, "total_steps", cfg.total_steps, "a positive number of env steps")
    _require(a.steps_per_iter > 0, "algo.steps_per_iter", a.steps_per_iter, "a positive integer")
    _require(e.num_envs > 0, "env.num_envs", e.num_envs, "a positive integer")
    if e.version is not None and e.name in ENV_VERSIONS:
        _require(
            e.version in ENV_VERSIONS[e.name],
            "env.version",
            e.version,
            f"{' | '.join(ENV_VERSIONS[e.name])} for env={e.name}",
        )
    _require(
        a.steps_per_iter % e.num_envs == 0,
        "algo.steps_per_iter",
        a.steps_per_iter,
        f"a multiple of env.num_envs={e.num_envs}",
    )
    _require(
        cfg.total_steps >= a.steps_per_iter,
        "total_steps",
        cfg.total_steps,
        f">= algo.steps_per_iter={a.steps_per_iter} (at least one iteration)",
    )
    for key in ("epochs", "value_epochs", "num_minibatches", "cg_steps", "max_backtracks"):
        _require(getattr(a, key) > 0, f"algo.{key}", getattr(a, key), "a positive integer")
    _require(
        a.num_minibatches <= a.steps_per_iter,
        "algo.num_minibatches",
        a.num_minibatches,
        f"<= algo.steps_per_iter={a.steps_per_iter}",
    )
    for key in ("policy_lr", "value_lr", "adam_eps", "max_kl", "cg_damping", "value_clip_eps"):
        _require(getattr(a, key) > 0, f"algo.{key}", getattr(a, key), "a positive number")
    _require(0 < a.gamma <= 1, "algo.gamma", a.gamma, "0 < gamma <= 1")
    _require(0 <= a.gae_lambda <= 1, "algo.gae_lambda", a.gae_lambda, "0 <= lambda <= 1")
    _require(0 < a.fisher_frac <= 1, "algo.fisher_frac", a.fisher_frac, "0 < fraction <= 1")
    _require(
        a.clip_eps is None or a.clip_eps > 0,
        "algo.clip_eps",
        a.clip_eps,
        "a positive number or null",
    )
    _require(
        a.max_kl_final is None or a.max_kl_final > 0,
        "algo.max_kl_final",
        a.max_kl_final,
        "a positive number or null",
    )
    _require(
        len(a.hidden_sizes) > 0 and all(h > 0 for h in a.hidden_sizes),
        "algo.hidden_sizes",
        list(a.hidden_sizes),
        "a non-empty list of positive integers",
    )
    for key in ("obs_clip", "reward_clip", "grad_clip"):
        value = getattr(o, key)
        _require(value is None or value > 0, f"opt.{key}", value, "a positive number or null")
    _require(
        o.reward_scaling in REWARD_SCALING_MODES,
        "opt.reward_scaling",
        o.reward_scaling,
        " | ".join(REWARD_SCALING_MODES),
    )
    _require(
        o.grad_clip_scope in GRAD_CLIP_SCOPES,
        "opt.grad_clip_scope",
        o.grad_clip_scope,
        " | ".join(GRAD_CLIP_SCOPES),
    )
    _require(
        cfg.checkpoint.every > 0, "checkpoint.every", cfg.checkpoint.every, "a positive integer"
    )
    _require(
        cfg.checkpoint.every_minutes > 0,
        "checkpoint.every_minutes",
        cfg.checkpoint.every_minutes,
        "a positive number of minutes",
    )
    _require(
        cfg.logger.log_every > 0, "logger.log_every", cfg.logger.log_every, "a positive integer"
    )
    _require(
        cfg.logger.log_every_seconds > 0,
        "logger.log_every_seconds",
        cfg.logger.log_every_seconds,
        "a positive number of seconds",
    )
    _require(cfg.torch_threads > 0, "torch_threads", cfg.torch_threads, "a positive integer")
    validate_probe(cfg)


# Hydra's own node, present in the job configs the launchers compose (sweep presets are
# @package _global_: they set hydra.sweeper.params and add no node of their own).
NOT_RUN_CONFIG = ("hydra",)


def check_known_keys(cfg: DictConfig, schema: Any = Config) -> None:
    """Raise UnknownKey for the first key the schema does not define.

    ``+key=value`` (Hydra's own hint for a key it rejects) adds keys past the typed schema, so a
    typo like ``+algo.lr=1e-3`` would otherwise train with the key silently ignored.
    """
    given = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))
    given = {k: v for k, v in given.items() if k not in NOT_RUN_CONFIG}
    _check_keys(given, _schema_tree(schema), "")


@functools.cache
def _schema_tree(schema: Any) -> dict:
    """The schema's keys as nested dicts (read only), built once: a launcher checks every job."""
    return cast(dict, OmegaConf.to_container(OmegaConf.structured(schema)))


def _check_keys(given: dict, schema: dict, prefix: str) -> None:
    for key, value in given.items():
        if key not in schema:
            raise UnknownKey(f"{prefix}{key}", value, [str(k) for k in schema])
        if isinstance(schema[key], dict) and isinstance(value, dict):
            _check_keys(value, schema[key], f"{prefix}{key}.")


def to_container(cfg: DictConfig) -> dict:
    """The resolved config as plain Python (enums as strings), for JSON, wandb and checkpoints."""
    out = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert isinstance(out, dict)
    return out
