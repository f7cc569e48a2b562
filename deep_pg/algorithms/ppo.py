"""PPO (Schulman et al. 2017) as studied in the paper; PPO-NoClip when algo.clip_eps is null."""
from __future__ import annotations

import numpy as np
import torch

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.common import (Agent, check_finite, clip_gradients, fit_value, minibatches,
                                       normalize)


def ppo_update(agent: Agent, batch: Batch, cfg, rng: np.random.Generator,
               progress: float = 0.0) -> dict[str, float]:
    """algo.epochs passes of Adam minibatch steps on the clipped surrogate, then value fitting.

    surrogate = E[min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)],  ratio = pi(a|s) / pi_old(a|s)
    """
    # Plain locals: DictConfig attribute access is slow enough to matter in this loop.
    clip_eps, entropy_coef = cfg.algo.clip_eps, cfg.algo.entropy_coef
    adv_norm, grad_clip = cfg.opt.adv_norm, cfg.opt.grad_clip
    policy_losses, grad_norms = [], []
    for _ in range(cfg.algo.epochs):
        for idx in minibatches(len(batch), cfg.algo.num_minibatches, rng):
            advantages = normalize(batch.advantages[idx], adv_norm)
            logratio = agent.policy.log_prob(batch.obs[idx], batch.actions[idx]) - batch.logp_old[idx]
            ratio = torch.exp(logratio)
            surrogate = ratio * advantages
            if clip_eps is not None:
                clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
                surrogate = torch.minimum(surrogate, clipped)
            loss = -surrogate.mean() - entropy_coef * agent.policy.entropy()
            agent.policy_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norms.append(clip_gradients(agent.policy.parameters(), grad_clip))
            agent.policy_optimizer.step()
            policy_losses.append(loss.detach())
    return {
        "policy_loss": check_finite("policy loss", float(torch.stack(policy_losses).mean())),
        "policy_grad_norm": float(np.mean(grad_norms)),
        "value_loss": fit_value(agent, batch, cfg, rng),
    }
