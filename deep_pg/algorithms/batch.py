"""Turn a Rollout into the flat training batch every algorithm updates from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deep_pg.config import Baseline
from deep_pg.networks import GaussianPolicy, ValueNetwork
from deep_pg.sampler import Rollout, gae


@dataclass
class Batch:
    """Flat (T*N) tensors of one iteration's experience, time-major order."""

    obs: torch.Tensor
    actions: torch.Tensor
    logp_old: torch.Tensor  # log pi_old(a|s)
    mean_old: torch.Tensor  # pi_old's action means, for KL(pi_old || pi_new)
    log_std_old: torch.Tensor
    advantages: torch.Tensor  # what the policy gradient weighs log-probs with (not normalized)
    returns: torch.Tensor  # value targets: V_old + GAE advantages
    values_old: torch.Tensor

    def __len__(self) -> int:
        return self.obs.shape[0]

    def select(self, idx: torch.Tensor | slice) -> "Batch":
        """The transitions ``idx`` (gathered for an index tensor, views for a slice)."""
        return Batch(self.obs[idx], self.actions[idx], self.logp_old[idx], self.mean_old[idx],
                     self.log_std_old, self.advantages[idx], self.returns[idx],
                     self.values_old[idx])


def make_batch(rollout: Rollout, policy: GaussianPolicy, value: ValueNetwork, gamma: float,
               lam: float, timeout_bootstrap: bool, baseline: Baseline | str) -> Batch:
    """Evaluate pi_old and V_old on the rollout and compute GAE advantages and value targets.

    env.timeout_bootstrap=false treats a time-limit truncation as terminal (reference behaviour).
    algo.baseline=zero replaces the advantages with discounted returns (GAE with V=0, lambda=1);
    the value network is still fit to its usual targets so value probes keep working.
    """
    steps, n, obs_dim = rollout.obs.shape
    obs = torch.from_numpy(rollout.obs.reshape(-1, obs_dim))
    actions = torch.from_numpy(rollout.actions.reshape(steps * n, -1))
    with torch.no_grad():
        mean_old = policy(obs)
        log_std_old = policy.log_std.detach().clone()
        logp_old = policy.log_prob(obs, actions)
        values = value(obs).numpy().reshape(steps, n)
        next_values = value(torch.from_numpy(rollout.final_obs.reshape(-1, obs_dim))).numpy()
    next_values = next_values.reshape(steps, n)
    terminal = rollout.terminated if timeout_bootstrap else rollout.terminated | rollout.truncated
    bootstrap = (~terminal).astype(np.float32)
    episode_end = (rollout.terminated | rollout.truncated).astype(np.float32)
    advantages = gae(rollout.rewards, values, next_values, bootstrap, episode_end, gamma, lam)
    returns = advantages + values
    if Baseline(baseline) is Baseline.zero:
        zeros = np.zeros_like(values)
        advantages = gae(rollout.rewards, zeros, zeros, bootstrap, episode_end, gamma, 1.0)
    flat = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32).reshape(-1))
    return Batch(obs, actions, logp_old, mean_old, log_std_old, flat(advantages), flat(returns),
                 flat(values))
