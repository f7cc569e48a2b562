"""The loss terms every policy update and probe shares, each written once for any leading shape: a
pack's (M, B) tensors with (M,) settings, or a single run's (B,) with scalars (the probes measure
the same objective on one run)."""

from __future__ import annotations

import torch

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.settings import MemberSettings


def normalize(advantages: torch.Tensor, enabled) -> torch.Tensor:
    """opt.adv_norm: standardize advantages over the pairs (last dim), per member.

    ``enabled`` is a bool or an (M,) bool tensor."""
    if advantages.shape[-1] < 2:
        return advantages
    mean = advantages.mean(-1, keepdim=True)
    normalized = (advantages - mean) / (advantages.std(-1, keepdim=True) + 1e-8)
    if isinstance(enabled, torch.Tensor):
        return torch.where(enabled.unsqueeze(-1), normalized, advantages)
    return normalized if enabled else advantages


def surrogate(policy, batch: Batch, advantages: torch.Tensor, clip_eps) -> torch.Tensor:
    """The surrogate objective per pair at ``policy`` (paper Eq. 1 and PPO's Eq. 2), ratio =
    pi / pi_old: min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A), which is ratio * A where
    ``clip_eps`` is inf ((M,) per member, or 0-d / a float for one run)."""
    ratio = torch.exp(policy.log_prob(batch.obs, batch.actions) - batch.logp_old)
    clip_eps = member_column(clip_eps)
    objective = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return torch.minimum(objective, clipped)


def surrogate_objective(policy, batch: Batch, settings: MemberSettings) -> torch.Tensor:
    """What the policy update maximizes (PPO, TRPO; and what the probes measure): the mean over
    the batch's pairs of ``surrogate``, advantages normalized as opt.adv_norm says and the ratio
    clipped as the member's algorithm clips it. (M,) per member."""
    assert batch.advantages is not None  # a policy batch
    advantages = normalize(batch.advantages, settings.adv_norm)
    return surrogate(policy, batch, advantages, settings.clip_eps).mean(-1)


def value_errors(
    values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor, value_clip, clip_eps
) -> torch.Tensor:
    """Squared error of the predictions ``values`` to the targets ``returns`` per pair;
    opt.value_clip takes the PPO-style pessimistic maximum
    max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2). ``value_clip``/``clip_eps`` are
    (M,) per member or scalars."""
    loss = (values - returns).pow(2)
    clip_eps = member_column(clip_eps)
    clipped = values_old + torch.clamp(values - values_old, -clip_eps, clip_eps)
    pessimistic = torch.maximum(loss, (clipped - returns).pow(2))
    return torch.where(member_column(value_clip), pessimistic, loss)


def value_loss(
    values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor, value_clip, clip_eps
) -> torch.Tensor:
    """The value network's loss: ``value_errors`` to the GAE targets, averaged over pairs (what
    ``gradients.value_loss_and_gradients`` computes, with its gradient, in training)."""
    return value_errors(values, values_old, returns, value_clip, clip_eps).mean(-1)


def member_column(x):
    """(M,) per-member values as (M, 1) to broadcast over pairs; scalars as they are."""
    return x.unsqueeze(-1) if isinstance(x, torch.Tensor) and x.dim() == 1 else torch.as_tensor(x)
