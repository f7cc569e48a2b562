"""What an update reports about itself: trust-region statistics of the step, the value network's
explained variance, and which members went non-finite."""

from __future__ import annotations

import torch

from deep_pg.algorithms.agents import PackAgent
from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.losses import member_column
from deep_pg.networks import gaussian_kl


def nonfinite_members(agent: PackAgent, metrics: dict[str, torch.Tensor]) -> dict[int, str]:
    """Members whose losses or parameters are NaN/inf after an update, with the reason."""
    failed: dict[int, str] = {}
    for name in ("policy_loss", "value_loss"):
        if name in metrics:
            for m in torch.nonzero(~torch.isfinite(metrics[name])).flatten().tolist():
                failed.setdefault(m, f"{name.replace('_', ' ')} is {float(metrics[name][m])}")
    for net_name, net in (("policy", agent.policy), ("value", agent.value)):
        for name, p in net.named_parameters():
            bad = ~torch.isfinite(p.detach().flatten(1)).all(1)
            for m in torch.nonzero(bad).flatten().tolist():
                failed.setdefault(m, f"{net_name} parameter '{name}' is not finite")
    return failed


def trust_region_metrics(policy, batch: Batch, clip_eps) -> dict[str, torch.Tensor]:
    """mean KL(pi_old || pi_new) over the batch states, max and clip fraction of pi_new/pi_old,
    per member ((M,) tensors) or for one run (0-d tensors)."""
    assert batch.mean_old is not None and batch.log_std_old is not None  # a policy batch
    with torch.no_grad():
        mean_new = policy(batch.obs)
        kl = gaussian_kl(batch.mean_old, batch.log_std_old, mean_new, policy.log_std)
        ratio = torch.exp(policy.log_prob(batch.obs, batch.actions) - batch.logp_old)
    return {
        "mean_kl": kl.mean(-1),
        "max_ratio": ratio.amax(-1),
        "clip_frac": ((ratio - 1.0).abs() > member_column(clip_eps)).float().mean(-1),
    }


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """1 - Var[R - V] / Var[R] of the pre-update value predictions per member (1 = perfect,
    <= 0 = useless; NaN where the targets do not vary)."""
    var = returns.var(-1)
    explained = 1.0 - (returns - values).var(-1) / var
    return torch.where(var == 0, torch.tensor(float("nan")), explained)
