"""PPO (Schulman et al. 2017) as studied in the paper; PPO-NoClip when algo.clip_eps is null."""

from __future__ import annotations

import torch

from deep_pg.algorithms.agents import PackAgent
from deep_pg.algorithms.batch import Batch, minibatches
from deep_pg.algorithms.gradients import policy_loss_and_gradients
from deep_pg.algorithms.optim import MemberAdam, adam_step
from deep_pg.algorithms.value_fit import set_value_gradients


def ppo_update(agent: PackAgent, batch: Batch, cfg, rngs) -> dict[str, torch.Tensor]:
    """Adam minibatch steps on the clipped surrogate (algo.epochs passes) and on the value loss
    (algo.value_epochs passes), both networks stepping on the same minibatches.

    surrogate = E[min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)],  ratio = pi(a|s) / pi_old(a|s)

    The gradients of both losses come from ``algorithms.gradients`` (written out, not recorded by
    autograd), and one ``adam_step`` steps both networks' optimizers.
    """
    s, policy, policy_optimizer = agent.settings, agent.policy, agent.policy_optimizer
    assert policy_optimizer is not None  # PPO steps its policy with Adam
    policy_epochs, value_epochs = cfg.algo.epochs, cfg.algo.value_epochs
    policy_losses, value_losses, grad_norms = [], [], []
    for epoch in range(max(policy_epochs, value_epochs)):
        for mb in minibatches(batch, cfg.algo.num_minibatches, rngs):
            optimizers: list[MemberAdam] = []
            if epoch < policy_epochs:
                policy_loss, grads = policy_loss_and_gradients(policy, mb, s)
                policy_optimizer.set_gradients(grads)
                grad_norms.append(policy_optimizer.clip_gradients(s.grad_clip))
                policy_losses.append(policy_loss)
                optimizers.append(policy_optimizer)
            if epoch < value_epochs:
                value_losses.append(set_value_gradients(agent, mb))
                optimizers.append(agent.value_optimizer)
            adam_step(optimizers)
    return {
        "policy_loss": torch.stack(policy_losses).mean(0),
        "value_loss": torch.stack(value_losses).mean(0),
        "policy_grad_norm": torch.stack(grad_norms).mean(0),
    }
