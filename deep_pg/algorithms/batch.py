"""Turn rollouts into the training batch every algorithm updates from.

A pack's batch carries a leading member dimension: obs (M, B, obs_dim), advantages (M, B), ...
A single run's batch (probes) is the same without it: obs (B, obs_dim), advantages (B,).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from deep_pg.config import Baseline
from deep_pg.experience import Rollout


@dataclass
class Batch:
    """One iteration's experience, pairs in time-major order (t * num_envs + env).

    A batch to fit a value network only (``value_targets``) has just obs, returns and values_old;
    its policy fields are None.
    """

    obs: torch.Tensor
    actions: torch.Tensor | None
    logp_old: torch.Tensor | None  # log pi_old(a|s)
    mean_old: torch.Tensor | None  # pi_old's action means, for KL(pi_old || pi_new)
    log_std_old: torch.Tensor | None  # (act_dim,), or (M, 1, act_dim) in a pack
    # what the policy gradient weighs log-probs with (not normalized)
    advantages: torch.Tensor | None
    returns: torch.Tensor  # value targets: V_old + GAE advantages
    values_old: torch.Tensor

    PER_PAIR = ("obs", "actions", "logp_old", "mean_old", "advantages", "returns", "values_old")

    @classmethod
    def value_targets(cls, obs: torch.Tensor, returns: torch.Tensor) -> Batch:
        """Pairs (state, value target) to fit a fresh value network to (V_old = 0: no clipping
        around an old network)."""
        return cls(obs, None, None, None, None, None, returns, torch.zeros_like(returns))

    def __len__(self) -> int:
        return self.returns.shape[-1]

    def select(self, idx: torch.Tensor | slice) -> Batch:
        """The pairs ``idx`` of every member (views for a slice)."""
        lead = (slice(None),) * (self.returns.dim() - 1)
        return self._with(self._per_pair(lambda x: x[lead + (idx,)]))

    def gather(self, idx: torch.Tensor) -> Batch:
        """Member m's pairs ``idx[m]`` for every m (idx: (M, b) indices)."""
        rows = torch.arange(idx.shape[0]).unsqueeze(1)
        return self._with(self._per_pair(lambda x: x[rows, idx]))

    def member(self, m: int) -> Batch:
        """Member ``m``'s batch, as a single run's."""
        log_std = None if self.log_std_old is None else self.log_std_old[m, 0]
        return self._with(self._per_pair(lambda x: x[m]), log_std_old=log_std)

    def as_pack(self) -> Batch:
        """This single run's batch as the batch of a pack of one."""
        log_std = None if self.log_std_old is None else self.log_std_old.view(1, 1, -1)
        return self._with(self._per_pair(lambda x: x.unsqueeze(0)), log_std_old=log_std)

    def _per_pair(self, fn) -> dict:
        """``fn`` of every per-pair field that this batch has."""
        return {k: fn(getattr(self, k)) for k in self.PER_PAIR if getattr(self, k) is not None}

    def _with(self, per_pair: dict, **other) -> Batch:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{**values, **per_pair, **other})


def targets(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    gamma,
    lam,
    timeout_bootstrap,
    baseline: Baseline | str,
) -> tuple[np.ndarray, np.ndarray]:
    """(advantages, value targets) of (T, N) streams; ``gamma``, ``lam`` and ``timeout_bootstrap``
    are scalars or (N,) arrays (a pack's members side by side as columns).

    env.timeout_bootstrap=false treats a time-limit truncation as terminal (reference behaviour).
    algo.baseline=zero replaces the advantages with discounted returns (GAE with V=0, lambda=1);
    the value network is still fit to its usual targets so value probes keep working.
    """
    terminal = terminated | (truncated & ~np.asarray(timeout_bootstrap))
    bootstrap = (~terminal).astype(np.float32)
    episode_end = (terminated | truncated).astype(np.float32)
    advantages = gae(rewards, values, next_values, bootstrap, episode_end, gamma, lam)
    returns = advantages + values
    if Baseline(baseline) is Baseline.zero:
        zeros = np.zeros_like(values)
        advantages = gae(rewards, zeros, zeros, bootstrap, episode_end, gamma, 1.0)
    return advantages, returns


def make_batch(
    rollout: Rollout,
    policy,
    value,
    gamma: float,
    lam: float,
    timeout_bootstrap: bool,
    baseline: Baseline | str,
) -> Batch:
    """A single run's batch: pi_old and V_old of ``policy``/``value`` on ``rollout``."""
    return make_pack_batch(
        [rollout],
        policy,
        value,
        np.array([gamma]),
        np.array([lam]),
        np.array([timeout_bootstrap]),
        baseline,
        members=False,
    )


def make_pack_batch(
    rollouts: Sequence[Rollout],
    policy,
    value,
    gamma: np.ndarray,
    lam: np.ndarray,
    timeout_bootstrap: np.ndarray,
    baseline: Baseline | str,
    members: bool = True,
) -> Batch:
    """The pack's batch: member m's rollout evaluated by member m's networks (stacked nets with
    ``members``, a single run's nets without), GAE advantages and value targets per member."""
    steps, n, obs_dim = rollouts[0].obs.shape
    m = len(rollouts)
    stack = lambda key, *shape: torch.from_numpy(
        np.stack([getattr(r, key) for r in rollouts]).reshape(m, *shape)
    )
    obs, final_obs = stack("obs", steps * n, obs_dim), stack("final_obs", steps * n, obs_dim)
    actions = stack("actions", steps * n, -1)
    if not members:
        obs, final_obs, actions = obs[0], final_obs[0], actions[0]
    with torch.no_grad():
        mean_old = policy(obs)
        log_std_old = policy.log_std.detach().clone()
        logp_old = policy.log_prob(obs, actions)
        values = value(obs).numpy().reshape(m, steps, n)
        next_values = value(final_obs).numpy().reshape(m, steps, n)
    # Members side by side as columns (T, M * N): one GAE pass over the whole pack.
    columns = lambda x: np.moveaxis(x, 0, 1).reshape(steps, m * n)
    per_column = lambda x: np.repeat(np.asarray(x), n)
    advantages, returns = targets(
        columns(np.stack([r.rewards for r in rollouts])),
        columns(np.stack([r.terminated for r in rollouts])),
        columns(np.stack([r.truncated for r in rollouts])),
        columns(values),
        columns(next_values),
        per_column(gamma).astype(np.float32),
        per_column(lam).astype(np.float32),
        per_column(timeout_bootstrap),
        baseline,
    )
    flat = lambda x: torch.from_numpy(
        np.ascontiguousarray(
            np.moveaxis(x.reshape(steps, m, n), 1, 0).reshape(m, steps * n), dtype=np.float32
        )
    )
    values_flat = torch.from_numpy(
        np.ascontiguousarray(values.reshape(m, steps * n), dtype=np.float32)
    )
    batch = Batch(
        obs, actions, logp_old, mean_old, log_std_old, flat(advantages), flat(returns), values_flat
    )
    if not members:
        assert batch.advantages is not None  # a policy batch
        batch.advantages, batch.returns, batch.values_old = (
            batch.advantages[0],
            batch.returns[0],
            batch.values_old[0],
        )
    return batch


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    bootstrap: np.ndarray,
    episode_end: np.ndarray,
    gamma,
    lam,
) -> np.ndarray:
    """Generalized advantage estimates, time-major (T, N).

    ``next_values[t]`` is V of the observation step t ended in; ``bootstrap[t]`` is 0 where that
    state is terminal (so its value is 0) and 1 otherwise; ``episode_end[t]`` stops the backward
    recursion at episode boundaries (terminated or truncated). ``gamma`` and ``lam`` are scalars
    or (N,) arrays.
    """
    advantages = np.zeros_like(rewards)
    last = np.zeros(rewards.shape[1], dtype=rewards.dtype)
    discount = gamma * lam
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_values[t] * bootstrap[t] - values[t]
        last = delta + discount * (1.0 - episode_end[t]) * last
        advantages[t] = last
    return advantages


def minibatches(
    batch: Batch, num_minibatches: int, rngs: Sequence[np.random.Generator]
) -> Iterator[Batch]:
    """A random partition of each member's batch into ``num_minibatches`` parts (one epoch),
    member m shuffled by its own ``rngs[m]``.

    The batch is shuffled once and cut into contiguous views: one gather per tensor per epoch
    instead of one per minibatch, which is measurable at 32 minibatches of 64.
    """
    n = len(batch)
    shuffled = batch.gather(torch.from_numpy(np.stack([rng.permutation(n) for rng in rngs])))
    start = 0
    for size in (len(part) for part in np.array_split(np.arange(n), num_minibatches)):
        yield shuffled.select(slice(start, start + size))
        start += size
