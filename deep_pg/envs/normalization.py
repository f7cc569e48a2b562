"""Running statistics and the observation / reward transforms of the code-level optimizations.

Both transforms live outside the environments so that probes and evaluation can take *frozen*
copies (``frozen()``) that normalize with the training statistics without updating them.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from deep_pg.envs.arrays import clip

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
    """opt.obs_norm (running mean/std standardization) followed by opt.obs_clip (±clip)."""

    def __init__(self, obs_dim: int, normalize: bool, clip: float | None):
        self.stats = RunningMeanStd((obs_dim,))
        self.normalize, self.clip, self.update_stats = normalize, clip, True

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalize a (n, obs_dim) batch, first folding it into the statistics unless frozen."""
        if self.normalize:
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
    """opt.reward_scaling followed by opt.reward_clip.

    Scaling divides each reward by the running std of the discounted return (no centering), the
    return being accumulated per environment and reset to zero when its episode ends.
    """

    def __init__(self, num_envs: int, gamma: float, scale: bool, clip: float | None):
        self.stats = RunningMeanStd(())
        self.running_return = np.zeros(num_envs)
        self.gamma, self.scale, self.clip, self.update_stats = gamma, scale, clip, True

    def __call__(self, reward: np.ndarray, episode_end: np.ndarray) -> np.ndarray:
        """Scale a (num_envs,) reward vector; ``episode_end`` marks envs whose episode just ended."""
        if self.scale:
            if self.update_stats:
                self.running_return = self.running_return * self.gamma + reward
                self.stats.update(self.running_return)
                self.running_return[episode_end] = 0.0
            reward = reward / (self.stats.std + EPS)
        if self.clip is not None:
            reward = clip(reward, -self.clip, self.clip)
        return reward

    def frozen(self) -> "RewardScaler":
        twin = copy.deepcopy(self)
        twin.update_stats = False
        return twin

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.state_dict(), "running_return": self.running_return.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state["stats"])
        self.running_return = state["running_return"].copy()


def build_normalizers(cfg, obs_dim: int) -> tuple[ObservationNormalizer, RewardScaler]:
    """The transforms the ``opt`` toggles ask for."""
    obs_norm = ObservationNormalizer(obs_dim, normalize=cfg.opt.obs_norm, clip=cfg.opt.obs_clip)
    reward_scaler = RewardScaler(
        cfg.env.num_envs, cfg.algo.gamma, scale=cfg.opt.reward_scaling, clip=cfg.opt.reward_clip
    )
    return obs_norm, reward_scaler
