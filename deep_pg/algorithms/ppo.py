"""PPO (Schulman et al. 2017) as studied in the paper; PPO-NoClip when algo.clip_eps is null."""
from __future__ import annotations

import torch

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.common import PackAgent, minibatches, normalize, surrogate, value_loss
from deep_pg.algorithms.optim import clip_member_gradients


def ppo_update(agent: PackAgent, batch: Batch, cfg, rngs) -> dict[str, torch.Tensor]:
    """Adam minibatch steps on the clipped surrogate (algo.epochs passes) and on the value loss
    (algo.value_epochs passes), both networks stepping on the same minibatches.

    surrogate = E[min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)],  ratio = pi(a|s) / pi_old(a|s)

    The networks of all members share no parameters, so one backward pass of the summed losses
    gives every network of every member exactly its own gradient.
    """
    s, policy, value = agent.settings, agent.policy, agent.value
    clip_eps, entropy_coef = s.clip_eps.unsqueeze(-1), s.entropy_coef
    policy_epochs, value_epochs = cfg.algo.epochs, cfg.algo.value_epochs
    policy_losses, value_losses, grad_norms = [], [], []
    for epoch in range(max(policy_epochs, value_epochs)):
        train_policy, train_value = epoch < policy_epochs, epoch < value_epochs
        for mb in minibatches(batch, cfg.algo.num_minibatches, rngs):
            loss = 0.0
            if train_policy:
                advantages = normalize(mb.advantages, s.adv_norm)
                log_ratio = policy.log_prob(mb.obs, mb.actions) - mb.logp_old
                policy_loss = -surrogate(log_ratio, advantages, clip_eps).mean(-1)
                policy_loss = policy_loss - entropy_coef * policy.entropy()
                policy_losses.append(policy_loss.detach())
                loss = loss + policy_loss.sum()
                agent.policy_optimizer.zero_grad()
            if train_value:
                v_loss = value_loss(value(mb.obs), mb.values_old, mb.returns, s.value_clip,
                                    s.value_clip_eps)
                value_losses.append(v_loss.detach())
                loss = loss + v_loss.sum()
                agent.value_optimizer.zero_grad()
            loss.backward()
            if train_policy:
                grad_norms.append(clip_member_gradients(policy.parameters(), s.grad_clip))
                agent.policy_optimizer.step()
            if train_value:
                clip_member_gradients(value.parameters(), s.grad_clip)
                agent.value_optimizer.step()
    return {
        "policy_loss": torch.stack(policy_losses).mean(0),
        "value_loss": torch.stack(value_losses).mean(0),
        "policy_grad_norm": torch.stack(grad_norms).mean(0),
    }
