"""Fitting a pack's value networks: Adam steps on the value loss over random minibatches (the
value half of a PPO update; all of the value update of TRPO and PG, and the baselines probe's
fit)."""

from __future__ import annotations

import torch

from deep_pg.algorithms.agents import PackAgent
from deep_pg.algorithms.batch import Batch, minibatches
from deep_pg.algorithms.gradients import value_loss_and_gradients


def value_step(agent: PackAgent, mb: Batch) -> torch.Tensor:
    """One Adam step of every member's value network on its value loss on ``mb``; returns the
    (M,) losses."""
    loss = set_value_gradients(agent, mb)
    agent.value_optimizer.step()
    return loss


def set_value_gradients(agent: PackAgent, mb: Batch) -> torch.Tensor:
    """Every member's value loss on ``mb`` (M,), its gradients in the value optimizer, clipped as
    opt.grad_clip says."""
    loss, grads = value_loss_and_gradients(agent.value, mb, agent.settings)
    agent.value_optimizer.set_gradients(grads)
    clip_value_gradients(agent)
    return loss


def clip_value_gradients(agent: PackAgent) -> None:
    """opt.grad_clip on the value network's gradients (skipped where no member clips: the norms
    themselves are not reported)."""
    if torch.isfinite(agent.settings.value_grad_clip).any():
        agent.value_optimizer.clip_gradients(agent.settings.value_grad_clip)


def fit_value(
    agent: PackAgent, batch: Batch, epochs: int, num_minibatches: int, rngs
) -> torch.Tensor:
    """``epochs`` passes of ``value_step`` over random minibatches (training: algo.value_epochs,
    algo.num_minibatches); returns each member's mean loss."""
    losses = [
        value_step(agent, mb)
        for _ in range(epochs)
        for mb in minibatches(batch, num_minibatches, rngs)
    ]
    return torch.stack(losses).mean(0)
