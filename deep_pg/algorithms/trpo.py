"""TRPO (Schulman et al. 2015): a natural-gradient step on the surrogate under a mean-KL bound.

    maximize  E[ratio * A]   subject to   mean_s KL(pi_old(.|s) || pi(.|s)) <= delta

The step direction solves F x = g by conjugate gradient, F the Fisher matrix (the Hessian of the
mean KL at pi_old) estimated on a random algo.fisher_frac of the batch states; the step is scaled
so that its quadratic KL estimate equals delta, then halved (at most algo.max_backtracks times)
until the surrogate improves and the *measured* mean KL over the whole batch is within delta.
If no candidate passes, the policy is left unchanged and the rejection is logged.

In a pack every quantity is per member: conjugate gradient with per-member dot products (a
member that has converged stops moving), a per-member delta, and a line search in which each
member keeps the first candidate that passes *its own* test.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from deep_pg.algorithms.agents import PackAgent
from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.losses import surrogate_objective
from deep_pg.algorithms.optim import clip_member_gradients
from deep_pg.algorithms.value_fit import fit_value
from deep_pg.networks import StackedPolicy, gaussian_kl


def flat_members(tensors) -> torch.Tensor:
    """Stacked tensors (M, ...) as one (M, P) matrix: each member's parameters in one row."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], dim=1)


def set_flat_members(policy: StackedPolicy, flat: torch.Tensor) -> None:
    """Copy (M, P) rows into the stacked parameters in place (never rebinding them: views of a
    vector are not aligned like fresh tensors and would round differently after a resume)."""
    offset = 0
    with torch.no_grad():
        for p in policy.parameters():
            size = p[0].numel()
            p.copy_(flat[:, offset : offset + size].view_as(p))
            offset += size


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, steps: int, tol: float = 1e-10
) -> torch.Tensor:
    """Approximately solve A_m x_m = b_m for each row m (A_m symmetric positive definite, given as
    ``matvec`` on (M, P) rows); a row whose residual is below ``tol`` stops changing."""
    x = torch.zeros_like(b)
    r = b.clone()  # residual b - A x with x = 0
    p = r.clone()
    rr = (r * r).sum(1)
    for _ in range(steps):
        active = rr >= tol
        if not active.any():
            break
        ap = matvec(p)
        alpha = torch.where(active, rr / (p * ap).sum(1), torch.zeros_like(rr)).unsqueeze(1)
        x += alpha * p
        r -= alpha * ap
        rr_new = (r * r).sum(1)
        beta = torch.where(active, rr_new / rr, torch.zeros_like(rr)).unsqueeze(1)
        p = torch.where(active.unsqueeze(1), r + beta * p, p)
        rr = torch.where(active, rr_new, rr)
    return x


def mean_kl(policy: StackedPolicy, batch: Batch) -> torch.Tensor:
    """mean KL(pi_old || pi) over each member's batch states, shape (M,)."""
    assert batch.mean_old is not None and batch.log_std_old is not None  # a policy batch
    return gaussian_kl(batch.mean_old, batch.log_std_old, policy(batch.obs), policy.log_std).mean(
        -1
    )


def fisher_vector_product(
    policy: StackedPolicy, batch: Batch, damping: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> (F + damping I) v per member, F = Hessian of the member's mean KL at pi_old on
    ``batch`` (the Fisher subsample)."""
    params = list(policy.parameters())
    kl = mean_kl(policy, batch)
    grad_kl = flat_members(torch.autograd.grad(kl.sum(), params, create_graph=True))

    def fvp(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad((grad_kl * v).sum(), params, retain_graph=True)
        return flat_members(hv) + damping.unsqueeze(1) * v

    return fvp


def trpo_update(
    agent: PackAgent, batch: Batch, cfg, rngs, progress: float = 0.0
) -> dict[str, torch.Tensor]:
    a, s, policy = cfg.algo, agent.settings, agent.policy
    params = list(policy.parameters())
    surrogate_old = surrogate_objective(policy, batch, s)
    policy.zero_grad(set_to_none=True)
    surrogate_old.sum().backward()
    # opt.grad_clip is honoured here too unless opt.grad_clip_scope=ppo_policy (the released code
    # ignored it for TRPO+).
    grad_norm = clip_member_gradients(params, s.grad_clip)
    g = flat_members([p.grad for p in params])
    policy.zero_grad(set_to_none=True)

    n = len(batch)
    fisher_size = max(1, int(a.fisher_frac * n))
    fisher_idx = torch.from_numpy(
        np.stack([rng.choice(n, size=fisher_size, replace=False) for rng in rngs])
    )
    fvp = fisher_vector_product(policy, batch.gather(fisher_idx), s.cg_damping)
    direction = conjugate_gradient(fvp, g, a.cg_steps)
    quad = (direction * fvp(direction)).sum(1)  # x^T F x: the KL of step x is ~ quad / 2
    delta = s.kl_bound(progress)
    full_step = torch.sqrt(2.0 * delta / quad.clamp_min(1e-12)).unsqueeze(1) * direction

    old_params = flat_members([p.detach() for p in params])
    surrogate_before = surrogate_old.detach()
    members = policy.num_members
    accepted = torch.zeros(members, dtype=torch.bool)
    steps_taken = torch.full((members,), a.max_backtracks)
    improvement, kl_reached = torch.zeros(members), torch.zeros(members)
    current = old_params.clone()
    with torch.no_grad():
        for k in range(a.max_backtracks):
            pending = ~accepted
            if not pending.any():
                break
            current = torch.where(pending.unsqueeze(1), old_params + 0.5**k * full_step, current)
            set_flat_members(policy, current)
            gain = surrogate_objective(policy, batch, s) - surrogate_before
            kl = mean_kl(policy, batch)
            improvement = torch.where(pending, gain, improvement)
            kl_reached = torch.where(pending, kl, kl_reached)
            passed = pending & torch.isfinite(gain) & (gain > 0) & (kl <= delta)
            steps_taken = torch.where(passed, k + 1, steps_taken)
            accepted |= passed
        # A member whose every candidate failed keeps its old policy.
        current = torch.where(accepted.unsqueeze(1), current, old_params)
        set_flat_members(policy, current)
        improvement = torch.where(accepted, improvement, torch.zeros_like(improvement))
        kl_reached = torch.where(accepted, kl_reached, torch.zeros_like(kl_reached))
        step_norm = (current - old_params).norm(dim=1)
    return {
        "policy_loss": -surrogate_before,
        "policy_grad_norm": grad_norm,
        "linesearch_steps": steps_taken,
        "step_accepted": accepted,
        "surrogate_improvement": improvement,
        "kl_reached": kl_reached,
        "step_norm": step_norm,
        "max_kl": delta,
        "value_loss": fit_value(agent, batch, a.value_epochs, a.num_minibatches, rngs),
    }
