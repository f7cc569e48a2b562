"""What a probe sees: the agent at one iteration, frozen normalizers, its own sampler and seeds.

Also the data helpers every probe shares: batch layouts that mirror the agent's, phase-randomized
stream collection, batches built exactly as training builds them, and Monte-Carlo returns.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deep_pg.algorithms.agents import Agent
from deep_pg.algorithms.batch import Batch, make_batch
from deep_pg.envs.normalization import ObservationNormalizer, RewardScaler
from deep_pg.experience import Rollout
from deep_pg.probes.shards import PartStore
from deep_pg.sampling import ParallelSampler

# Monte-Carlo returns ignore rewards past the data; a return is kept only when that ignored tail
# weighs at most this fraction (gamma^k <= 0.01), unless the episode really ended in the data.
MC_TAIL_TOLERANCE = 0.01


@dataclass
class ProbeContext:
    cfg: Any  # the run's config (DictConfig)
    agent: Agent  # read only: probes change deep copies
    obs_normalizer: ObservationNormalizer  # frozen copies
    reward_scaler: RewardScaler
    iteration: int  # updates done so far (0 = before the first)
    num_iterations: int
    sampler: ParallelSampler
    parts: PartStore | None = None  # parts of the truth drawn by shard jobs

    @property
    def progress(self) -> float:
        return self.iteration / self.num_iterations

    def seed(self, *parts) -> int:
        """A seed that depends only on (run seed, iteration, parts): re-running a probe on a saved
        checkpoint reproduces what it measured during training, and no two uses share a stream."""
        words = [int(self.cfg.seed), self.iteration] + [
            zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts
        ]
        return int(np.random.SeedSequence(words).generate_state(1)[0])

    # --- layouts --------------------------------------------------------------------------------
    def layout(self, num_pairs: int) -> tuple[int, int]:
        """(streams, steps) of a batch of ``num_pairs``: the agent's own shape (env.num_envs
        streams of algo.steps_per_iter / env.num_envs steps) for one iteration's worth, more
        streams of the same length for more, capped at the sampler's environments. Rounded up
        to whole streams."""
        a, num_envs = self.cfg.algo, self.cfg.env.num_envs
        streams = min(
            self.sampler.capacity, max(num_envs, math.ceil(num_pairs / a.steps_per_iter) * num_envs)
        )
        return streams, math.ceil(num_pairs / streams)

    @property
    def mc_tail(self) -> int:
        """Extra steps recorded past a batch so Monte-Carlo returns of its states are accurate."""
        gamma = self.cfg.algo.gamma
        if gamma >= 1.0:
            return self.sampler.max_episode_steps
        return math.ceil(math.log(MC_TAIL_TOLERANCE) / math.log(gamma))

    # --- collection -----------------------------------------------------------------------------
    def collect_trials(
        self, num_trials: int, streams: int, steps: int, policy, purpose: str
    ) -> list[tuple[Rollout, np.ndarray]]:
        """``num_trials`` independent (rollout, raw rewards) of ``streams`` x ``steps`` pairs from
        ``policy``; trials share no environment stream. As many trials per request as fit."""
        self.sampler.set_policy(policy, self.obs_normalizer, self.reward_scaler)
        per_request = max(1, self.sampler.capacity // streams)
        trials = []
        for first in range(0, num_trials, per_request):
            count = min(per_request, num_trials - first)
            data = self.sampler.streams(
                count * streams, steps, self.seed(purpose, first), self.cfg.algo.gamma
            )
            for k in range(count):
                cols = slice(k * streams, (k + 1) * streams)
                trials.append((take(data.rollout, cols, steps), data.raw_rewards[:, cols]))
        return trials

    def batch(self, rollout: Rollout, value=None, baseline: str | None = None) -> Batch:
        """The training batch (GAE advantages, value targets, pi_old) the agent would build from
        ``rollout``; ``value`` / ``baseline`` replace the agent's for the baselines probe."""
        c = self.cfg
        return make_batch(
            rollout,
            self.agent.policy,
            value or self.agent.value,
            c.algo.gamma,
            c.algo.gae_lambda,
            c.env.timeout_bootstrap,
            baseline or c.algo.baseline,
        )

    def mc_returns(self, rollout: Rollout) -> tuple[np.ndarray, np.ndarray]:
        """(returns, valid) of ``mc_returns`` for this run's gamma and env.timeout_bootstrap."""
        return mc_returns(
            rollout.rewards,
            rollout.terminated,
            rollout.truncated,
            self.cfg.algo.gamma,
            self.cfg.env.timeout_bootstrap,
            self.mc_tail,
        )


def take(rollout: Rollout, cols: slice, steps: int) -> Rollout:
    """The first ``steps`` steps of streams ``cols`` (a batch a smaller sampler would produce)."""
    return Rollout(
        rollout.obs[:steps, cols],
        rollout.actions[:steps, cols],
        rollout.rewards[:steps, cols],
        rollout.terminated[:steps, cols],
        rollout.truncated[:steps, cols],
        rollout.final_obs[:steps, cols],
    )


def join_streams(first: Rollout, second: Rollout) -> Rollout:
    """The streams of both rollouts side by side (equal steps): one batch of both."""
    both = lambda a, b: np.concatenate([a, b], axis=1)
    return Rollout(
        both(first.obs, second.obs),
        both(first.actions, second.actions),
        both(first.rewards, second.rewards),
        both(first.terminated, second.terminated),
        both(first.truncated, second.truncated),
        both(first.final_obs, second.final_obs),
    )


def mc_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    timeout_bootstrap: bool,
    tail: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Discounted Monte-Carlo return-to-go of every step of (T, N) streams, and which are exact.

    A return is exact (valid) when its episode ends within the data in a terminal state (a
    time-limit truncation counts as terminal when env.timeout_bootstrap=false, as training then
    treats it); otherwise, after a truncation or the end of the data, the value is the infinite-
    horizon one and the return is kept only when at least ``tail`` further steps were observed.
    """
    steps = rewards.shape[0]
    terminal = terminated if timeout_bootstrap else terminated | truncated
    cut = truncated & ~terminal  # episode continues in principle, the data does not
    returns = np.zeros(rewards.shape, dtype=np.float64)
    observed = np.zeros(rewards.shape[1], dtype=np.int64)  # steps seen to the next cut
    exact = np.zeros(rewards.shape[1], dtype=bool)
    running = np.zeros(rewards.shape[1])
    valid = np.zeros(rewards.shape, dtype=bool)
    for t in reversed(range(steps)):
        ended = terminal[t] | cut[t] | (t == steps - 1)
        running = rewards[t] + gamma * np.where(ended, 0.0, running)
        exact = np.where(terminal[t], True, np.where(ended, False, exact))
        observed = np.where(ended, 1, observed + 1)
        returns[t] = running
        valid[t] = exact | (observed >= tail)
    return returns, valid


def to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
