"""PPO (Schulman et al. 2017) as studied in the paper; PPO-NoClip when algo.clip_eps is null."""
from __future__ import annotations

import numpy as np
import torch

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.common import (Agent, check_finite, clip_gradients, minibatches, normalize,
                                       value_loss)


def ppo_update(agent: Agent, batch: Batch, cfg, rng: np.random.Generator,
               progress: float = 0.0) -> dict[str, float]:
    """Adam minibatch steps on the clipped surrogate (algo.epochs passes) and on the value loss
    (algo.value_epochs passes), both networks stepping on the same minibatches.

    surrogate = E[min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)],  ratio = pi(a|s) / pi_old(a|s)

    The two networks share no parameters, so one backward pass of the summed losses gives each
    exactly its own gradient; it halves the autograd overhead that dominates at these sizes.
    """
    # Plain locals: DictConfig attribute access is slow enough to matter in this loop.
    clip_eps, entropy_coef = cfg.algo.clip_eps, cfg.algo.entropy_coef
    value_clip, value_clip_eps = cfg.opt.value_clip, cfg.algo.value_clip_eps
    adv_norm, grad_clip = cfg.opt.adv_norm, cfg.opt.grad_clip
    policy_epochs, value_epochs = cfg.algo.epochs, cfg.algo.value_epochs
    policy_losses, value_losses, grad_norms = [], [], []
    for epoch in range(max(policy_epochs, value_epochs)):
        train_policy, train_value = epoch < policy_epochs, epoch < value_epochs
        for mb in minibatches(batch, cfg.algo.num_minibatches, rng):
            losses = []
            if train_policy:
                advantages = normalize(mb.advantages, adv_norm)
                ratio = torch.exp(agent.policy.log_prob(mb.obs, mb.actions) - mb.logp_old)
                surrogate = ratio * advantages
                if clip_eps is not None:
                    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
                    surrogate = torch.minimum(surrogate, clipped)
                policy_loss = -surrogate.mean()
                if entropy_coef:
                    policy_loss = policy_loss - entropy_coef * agent.policy.entropy()
                policy_losses.append(policy_loss.detach())
                losses.append(policy_loss)
                agent.policy_optimizer.zero_grad(set_to_none=True)
            if train_value:
                v_loss = value_loss(agent.value(mb.obs), mb.values_old, mb.returns, value_clip,
                                    value_clip_eps)
                value_losses.append(v_loss.detach())
                losses.append(v_loss)
                agent.value_optimizer.zero_grad(set_to_none=True)
            sum(losses).backward()
            if train_policy:
                grad_norms.append(clip_gradients(agent.policy.parameters(), grad_clip))
                agent.policy_optimizer.step()
            if train_value:
                if grad_clip is not None:
                    clip_gradients(agent.value.parameters(), grad_clip)
                agent.value_optimizer.step()
    return {
        "policy_loss": check_finite("policy loss", float(torch.stack(policy_losses).mean())),
        "policy_grad_norm": float(np.mean(grad_norms)),
        "value_loss": check_finite("value loss", float(torch.stack(value_losses).mean())),
    }
