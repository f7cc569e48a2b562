"""Running statistics and the observation / reward transforms of the code-level optimizations.

Both transforms live outside the environments so that probes and evaluation can take *frozen*
copies (``frozen()``) that normalize with the training statistics without updating them.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

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

    def frozen(self) -> ObservationNormalizer:
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

    def frozen(self) -> RewardScaler:
        twin = copy.deepcopy(self)
        twin.update_stats = False
        return twin

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.state_dict(), "running_return": self.running_return.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state["stats"])
        self.running_return = state["running_return"].copy()


def _stacked_update(
    mean: np.ndarray, var: np.ndarray, count: np.ndarray, batch: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``RunningMeanStd.update`` of M members' statistics at once: ``mean``/``var`` (M, *shape),
    ``count`` broadcastable to them, ``batch`` (M, n, *shape); members outside ``mask`` (M,) keep
    theirs. The same expressions in the same order as the single update, elementwise, so each
    member's values are bit for bit its own update's."""
    n = batch.shape[1]
    if n == 1:
        batch_mean, batch_var = batch[:, 0], 0.0
    else:
        batch_mean, batch_var = batch.mean(axis=1), batch.var(axis=1)
    delta = batch_mean - mean
    total = count + n
    new_mean = mean + delta * n / total
    m2 = var * count + batch_var * n + delta**2 * count * n / total
    new_var = m2 / total
    if mask is None:
        return new_mean, new_var, total
    column = mask.reshape(-1, *([1] * (mean.ndim - 1)))
    return (
        np.where(column, new_mean, mean),
        np.where(column, new_var, var),
        np.where(mask.reshape(count.shape[0], *([1] * (count.ndim - 1))), total, count),
    )


class StackedObservationNormalizer:
    """The ``ObservationNormalizer`` of each of M members applied to all members' observations
    (M, n, obs_dim) at once, each with its own statistics, toggle and clip: the values are bit for
    bit what the members' own objects compute. Built from the members' normalizers at the start
    of a collection; ``write_back`` hands the statistics back to them."""

    def __init__(self, members: list[ObservationNormalizer]):
        if not all(m.update_stats for m in members):
            raise ValueError("a stacked normalizer updates its statistics: no frozen members")
        self.members = members
        self.normalize = np.array([m.normalize for m in members])
        self.all_normalize = bool(self.normalize.all())
        self.mask = None if self.all_normalize else self.normalize
        self.clip = np.array([np.inf if m.clip is None else m.clip for m in members])[:, None, None]
        self.mean = np.stack([m.stats.mean for m in members])
        self.var = np.stack([m.stats.var for m in members])
        self.count = np.array([m.stats.count for m in members], dtype=np.float64)[:, None]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Fold (M, n, obs_dim) observations into the statistics, then normalize them."""
        if not self.normalize.any():
            return obs
        self.mean, self.var, self.count = _stacked_update(
            self.mean, self.var, self.count, obs, self.mask
        )
        normalized = clip(
            (obs - self.mean[:, None]) / (np.sqrt(self.var)[:, None] + EPS), -self.clip, self.clip
        )
        return (
            normalized
            if self.all_normalize
            else np.where(self.normalize[:, None, None], normalized, obs)
        )

    def transform_rows(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        """Normalize rows ``obs`` (k, obs_dim), row i with member ``members[i]``'s statistics,
        without updating them."""
        normalized = clip(
            (obs - self.mean[members]) / (np.sqrt(self.var[members]) + EPS),
            -self.clip[members, 0],
            self.clip[members, 0],
        )
        return np.where(self.normalize[members, None], normalized, obs)

    def write_back(self) -> None:
        for m, member in enumerate(self.members):
            if member.normalize:
                member.stats.mean, member.stats.var = self.mean[m].copy(), self.var[m].copy()
                member.stats.count = float(self.count[m, 0])


class StackedRewardScaler:
    """The ``RewardScaler`` of each of M members applied to all members' rewards (M, n) at once,
    each with its own mode, gamma, statistics and clip, bit for bit as the members' own objects;
    ``write_back`` hands the running returns and statistics back to them."""

    def __init__(self, members: list[RewardScaler]):
        if not all(m.update_stats for m in members):
            raise ValueError("a stacked reward scaler updates its statistics: no frozen members")
        self.members = members
        modes = np.array([m.mode for m in members])
        self.returns, self.rewards = modes == "returns", modes == "rewards"
        self.scaled = self.returns | self.rewards
        self.gamma = np.array([m.gamma for m in members], dtype=np.float64)[:, None]
        self.clip = np.array([np.inf if m.clip is None else m.clip for m in members])[:, None]
        self.running_return = np.stack([m.running_return for m in members])
        self.mean = np.array([m.stats.mean for m in members], dtype=np.float64)
        self.var = np.array([m.stats.var for m in members], dtype=np.float64)
        self.count = np.array([m.stats.count for m in members], dtype=np.float64)

    def __call__(self, reward: np.ndarray, episode_end: np.ndarray) -> np.ndarray:
        """Scale (M, n) rewards; ``episode_end`` (M, n) marks envs whose episode ended."""
        if not self.scaled.any():
            return reward
        returns = self.returns[:, None]
        if self.returns.any():
            self.running_return = np.where(
                returns, self.running_return * self.gamma + reward, self.running_return
            )
        batch = np.where(returns, self.running_return, reward)
        self.mean, self.var, self.count = _stacked_update(
            self.mean, self.var, self.count, batch, None if self.scaled.all() else self.scaled
        )
        if self.returns.any():
            self.running_return[episode_end & returns] = 0.0
        std = np.sqrt(self.var)[:, None] + EPS
        mean = self.mean[:, None]
        scaled = np.where(returns, reward / std, (reward - mean) / std + mean)
        scaled = clip(scaled, -self.clip, self.clip)
        return np.where(self.scaled[:, None], scaled, reward)

    def write_back(self) -> None:
        for m, member in enumerate(self.members):
            if self.scaled[m]:
                member.running_return = self.running_return[m].copy()
                member.stats.mean, member.stats.var = self.mean[m], self.var[m]
                member.stats.count = float(self.count[m])


def inactive_clips(opt) -> list[str]:
    """The clips that are set but have nothing to act on (their normalization is off)."""
    inactive = []
    if opt.obs_clip is not None and not opt.obs_norm:
        inactive.append(
            f"opt.obs_clip={opt.obs_clip} is inactive: it clips normalized "
            "observations and opt.obs_norm=false"
        )
    if opt.reward_clip is not None and opt.reward_scaling == "none":
        inactive.append(
            f"opt.reward_clip={opt.reward_clip} is inactive: it clips scaled rewards "
            "and opt.reward_scaling=none"
        )
    return inactive


def build_normalizers(cfg, obs_dim: int) -> tuple[ObservationNormalizer, RewardScaler]:
    """The transforms the ``opt`` toggles ask for; says once when a clip is set but inactive."""
    for message in inactive_clips(cfg.opt):
        log.info(message)
    obs_norm = ObservationNormalizer(obs_dim, normalize=cfg.opt.obs_norm, clip=cfg.opt.obs_clip)
    reward_scaler = RewardScaler(
        cfg.env.num_envs,
        cfg.algo.gamma,
        mode=cfg.opt.reward_scaling,
        clip=cfg.opt.reward_clip,
    )
    return obs_norm, reward_scaler
