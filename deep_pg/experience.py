"""The experience one iteration collects, as sampling hands it to the update rules: ``Rollout``.

Sampling (``deep_pg.sampling``) fills it and the algorithms (``deep_pg.algorithms.batch``) learn
from it; neither package imports the other, both import this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Rollout:
    """``steps`` x ``num_envs`` transitions, time-major, as the agent saw them."""

    obs: np.ndarray  # (T, N, obs_dim) normalized observations the policy acted on
    actions: np.ndarray  # (T, N, act_dim) sampled (unclipped) actions
    rewards: np.ndarray  # (T, N) rewards after scaling / clipping: what the agent learns from
    terminated: np.ndarray  # (T, N) bool
    truncated: np.ndarray  # (T, N) bool: cut by the time limit
    final_obs: np.ndarray  # (T, N, obs_dim) normalized observation each step ended in
    episode_returns: list[float] = field(default_factory=list)  # raw returns of finished episodes
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        return self.rewards.size
