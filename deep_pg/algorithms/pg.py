"""Plain ("vanilla") policy gradient: one Adam step per iteration along the full-batch gradient
of E[log pi(a|s) * A], with A from the value baseline or, with algo.baseline=zero, returns."""

from __future__ import annotations

import torch

from deep_pg.algorithms.agents import PackAgent
from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.losses import normalize
from deep_pg.algorithms.value_fit import fit_value


def pg_update(agent: PackAgent, batch: Batch, cfg, rngs) -> dict[str, torch.Tensor]:
    s, policy, optimizer = agent.settings, agent.policy, agent.policy_optimizer
    assert batch.advantages is not None and batch.actions is not None  # a policy batch
    assert optimizer is not None  # PG steps its policy with Adam
    advantages = normalize(batch.advantages, s.adv_norm)
    loss = -(policy.log_prob(batch.obs, batch.actions) * advantages).mean(-1)
    loss = loss - s.entropy_coef * policy.entropy()
    optimizer.zero_grad()
    loss.sum().backward()
    grad_norm = optimizer.clip_gradients(s.grad_clip)
    optimizer.step()
    return {
        "policy_loss": loss.detach(),
        "policy_grad_norm": grad_norm,
        "value_loss": fit_value(
            agent, batch, cfg.algo.value_epochs, cfg.algo.num_minibatches, rngs
        ),
    }
