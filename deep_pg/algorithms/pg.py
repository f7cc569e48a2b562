"""Plain ("vanilla") policy gradient: one Adam step per iteration along the full-batch gradient
of E[log pi(a|s) * A], with A from the value baseline or, with algo.baseline=zero, returns."""
from __future__ import annotations

import numpy as np

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.common import Agent, check_finite, clip_gradients, fit_value, normalize


def pg_update(agent: Agent, batch: Batch, cfg, rng: np.random.Generator,
              progress: float = 0.0) -> dict[str, float]:
    advantages = normalize(batch.advantages, cfg.opt.adv_norm)
    loss = -(agent.policy.log_prob(batch.obs, batch.actions) * advantages).mean()
    if cfg.algo.entropy_coef:
        loss = loss - cfg.algo.entropy_coef * agent.policy.entropy()
    agent.policy_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = clip_gradients(agent.policy.parameters(), cfg.opt.grad_clip)
    agent.policy_optimizer.step()
    return {
        "policy_loss": check_finite("policy loss", float(loss.detach())),
        "policy_grad_norm": grad_norm,
        "value_loss": fit_value(agent, batch, cfg, rng),
    }
