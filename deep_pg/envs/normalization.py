"""Running statistics and the observation / reward transforms of the code-level optimizations.

Both transforms live outside the environments so that probes and evaluation can take *frozen*
copies (``frozen()``) that normalize with the training statistics without updating them.
"""
from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

from deep_pg.config import reward_scaling_mode
from deep_pg.envs.arrays import clip

log = logging.getLogger(__name__)

EPS = 1e-8


class RunningMeanStd:
    """Mean and variance of a stream of arrays (Chan et al.'s parallel update)."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = 1e-4  # a tiny prior count keeps the first update well defined

    def update(self, batch: np.ndarray) -> None:
        """``batch`` has shape (n, *shape)."""
        n = batch.shape[0]
        if n == 1:  # the per-step case of a single env: skip the (slow) reductions
            batch_mean, batch_var = batch[0], 0.0
        else:
            batch_mean, batch_var = batch.mean(axis=0), batch.var(axis=0)
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = state["mean"].copy(), state["var"].copy(), state["count"]


class ObservationNormalizer:
    """opt.obs_norm (running mean/std standardization) followed by opt.obs_clip (±clip).

    The clip is part of the normalization, as in the reference's state filter: it bounds
    standardized observations and never acts on raw ones (without obs_norm it is inactive).
    """

    def __init__(self, obs_dim: int, normalize: bool, clip: float | None):
        self.stats = RunningMeanStd((obs_dim,))
        self.normalize, self.update_stats = normalize, True
        self.clip = clip if normalize else None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalize a (n, obs_dim) batch, first folding it into the statistics unless frozen."""
        if not self.normalize:
            return obs
        if self.update_stats:
            self.stats.update(obs)
        obs = (obs - self.stats.mean) / (self.stats.std + EPS)
        if self.clip is not None:
            obs = clip(obs, -self.clip, self.clip)
        return obs

    def transform(self, obs: np.ndarray) -> np.ndarray:
        """Normalize without updating the statistics (e.g. the final observation of an episode)."""
        update, self.update_stats = self.update_stats, False
        try:
            return self(obs)
        finally:
            self.update_stats = update

    def frozen(self) -> "ObservationNormalizer":
        twin = copy.deepcopy(self)
        twin.update_stats = False
        return twin

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state["stats"])


class RewardScaler:
    """opt.reward_scaling followed by opt.reward_clip (±clip of the scaled reward).

    Modes, as in the reference implementation (statistics are updated with the current step
    before it is transformed):
    - ``returns``: r / std(R), R the discounted return accumulated per environment and reset to
      zero when its episode ends (no centering).
    - ``rewards``: (r - mean(r)) / std(r) + mean(r) over the raw rewards seen so far: the spread
      around the running mean is scaled, the mean itself is kept (the reference's
      ``ZFilter(center=False)``).
    - ``none``: rewards pass through untouched, and so does the clip (it belongs to the scaling).
    """

    def __init__(self, num_envs: int, gamma: float, mode: str, clip: float | None):
        self.stats = RunningMeanStd(())
        self.running_return = np.zeros(num_envs)
        self.gamma, self.mode, self.update_stats = gamma, mode, True
        self.clip = clip if mode != "none" else None

    def __call__(self, reward: np.ndarray, episode_end: np.ndarray) -> np.ndarray:
        """Scale a (num_envs,) reward vector; ``episode_end`` marks envs whose episode ended."""
        if self.mode == "returns":
            if self.update_stats:
                self.running_return = self.running_return * self.gamma + reward
                self.stats.update(self.running_return)
                self.running_return[episode_end] = 0.0
            reward = reward / (self.stats.std + EPS)
        elif self.mode == "rewards":
            if self.update_stats:
                self.stats.update(reward)
            reward = (reward - self.stats.mean) / (self.stats.std + EPS) + self.stats.mean
        if self.clip is not None:
            reward = clip(reward, -self.clip, self.clip)
        return reward

    def restart(self, which: np.ndarray) -> None:
        """Envs in ``which`` start a new episode without one having ended: their running return
        (``returns`` mode) starts again from zero, as at an episode end."""
        self.running_return[which] = 0.0

    def frozen(self) -> "RewardScaler":
        twin = copy.deepcopy(self)
        twin.update_stats = False
        return twin

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.state_dict(), "running_return": self.running_return.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state["stats"])
        self.running_return = state["running_return"].copy()


def inactive_clips(opt) -> list[str]:
    """The clips that are set but have nothing to act on (their normalization is off)."""
    inactive = []
    if opt.obs_clip is not None and not opt.obs_norm:
        inactive.append(f"opt.obs_clip={opt.obs_clip} is inactive: it clips normalized "
                        "observations and opt.obs_norm=false")
    if opt.reward_clip is not None and reward_scaling_mode(opt.reward_scaling) == "none":
        inactive.append(f"opt.reward_clip={opt.reward_clip} is inactive: it clips scaled rewards "
                        "and opt.reward_scaling=none")
    return inactive


def build_normalizers(cfg, obs_dim: int) -> tuple[ObservationNormalizer, RewardScaler]:
    """The transforms the ``opt`` toggles ask for; says once when a clip is set but inactive."""
    for message in inactive_clips(cfg.opt):
        log.info(message)
    obs_norm = ObservationNormalizer(obs_dim, normalize=cfg.opt.obs_norm, clip=cfg.opt.obs_clip)
    reward_scaler = RewardScaler(cfg.env.num_envs, cfg.algo.gamma,
                                 mode=reward_scaling_mode(cfg.opt.reward_scaling),
                                 clip=cfg.opt.reward_clip)
    return obs_norm, reward_scaler
