"""TRPO (Schulman et al. 2015): a natural-gradient step on the surrogate under a mean-KL bound.

    maximize  E[ratio * A]   subject to   mean_s KL(pi_old(.|s) || pi(.|s)) <= delta

The step direction solves F x = g by conjugate gradient, F the Fisher matrix (the Hessian of the
mean KL at pi_old) estimated on a random algo.fisher_frac of the batch states; the step is scaled
so that its quadratic KL estimate equals delta, then halved (at most algo.max_backtracks times)
until the surrogate improves and the *measured* mean KL over the whole batch is within delta.
If no candidate passes, the policy is left unchanged and the rejection is logged.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.common import Agent, check_finite, clip_gradients, fit_value, normalize
from deep_pg.networks import GaussianPolicy, flat_parameters, gaussian_kl, set_flat_parameters


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor,
                       steps: int, tol: float = 1e-10) -> torch.Tensor:
    """Approximately solve A x = b for symmetric positive definite A given as ``matvec``."""
    x = torch.zeros_like(b)
    r = b.clone()  # residual b - A x with x = 0
    p = r.clone()
    rr = r.dot(r)
    for _ in range(steps):
        if rr < tol:
            break
        ap = matvec(p)
        alpha = rr / p.dot(ap)
        x += alpha * p
        r -= alpha * ap
        rr_new = r.dot(r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def mean_kl(policy: GaussianPolicy, batch: Batch, idx: torch.Tensor | slice = slice(None)) -> torch.Tensor:
    """mean KL(pi_old || pi) over the batch states ``idx``."""
    return gaussian_kl(batch.mean_old[idx], batch.log_std_old, policy(batch.obs[idx]),
                       policy.log_std).mean()


def fisher_vector_product(policy: GaussianPolicy, batch: Batch, idx: torch.Tensor,
                          damping: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> (F + damping I) v, F = Hessian of the mean KL at pi_old on the states ``idx``."""
    params = list(policy.parameters())
    kl = mean_kl(policy, batch, idx)
    grad_kl = parameters_to_vector(torch.autograd.grad(kl, params, create_graph=True))

    def fvp(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(grad_kl.dot(v), params, retain_graph=True)
        return parameters_to_vector(hv) + damping * v

    return fvp


def surrogate(policy: GaussianPolicy, batch: Batch, advantages: torch.Tensor) -> torch.Tensor:
    ratio = torch.exp(policy.log_prob(batch.obs, batch.actions) - batch.logp_old)
    return (ratio * advantages).mean()


def kl_bound(cfg, progress: float) -> float:
    """delta, linearly scheduled to algo.max_kl_final over training when that is set."""
    start, end = cfg.algo.max_kl, cfg.algo.max_kl_final
    return start if end is None else start + (end - start) * progress


def trpo_update(agent: Agent, batch: Batch, cfg, rng: np.random.Generator,
                progress: float = 0.0) -> dict[str, float]:
    a, policy = cfg.algo, agent.policy
    params = list(policy.parameters())
    advantages = normalize(batch.advantages, cfg.opt.adv_norm)
    surrogate_old = surrogate(policy, batch, advantages)
    policy.zero_grad(set_to_none=True)
    surrogate_old.backward()
    # opt.grad_clip is honoured here too (the reference implementation ignored it for TRPO+).
    grad_norm = clip_gradients(params, cfg.opt.grad_clip)
    g = parameters_to_vector([p.grad for p in params])
    policy.zero_grad(set_to_none=True)

    n = len(batch)
    fisher_idx = torch.from_numpy(rng.choice(n, size=max(1, int(a.fisher_frac * n)), replace=False))
    fvp = fisher_vector_product(policy, batch, fisher_idx, a.cg_damping)
    direction = conjugate_gradient(fvp, g, a.cg_steps)
    quad = direction.dot(fvp(direction))  # x^T F x: the KL of step x is ~ quad / 2
    delta = kl_bound(cfg, progress)
    full_step = torch.sqrt(2.0 * delta / quad.clamp_min(1e-12)) * direction

    old_params = flat_parameters(policy)
    surrogate_before = float(surrogate_old.detach())
    accepted, steps_taken, improvement, kl_reached = False, a.max_backtracks, 0.0, 0.0
    with torch.no_grad():
        for k in range(a.max_backtracks):
            set_flat_parameters(policy, old_params + 0.5**k * full_step)
            improvement = float(surrogate(policy, batch, advantages)) - surrogate_before
            kl_reached = float(mean_kl(policy, batch))
            if np.isfinite(improvement) and improvement > 0 and kl_reached <= delta:
                accepted, steps_taken = True, k + 1
                break
        if not accepted:
            set_flat_parameters(policy, old_params)
            improvement, kl_reached = 0.0, 0.0
        step_norm = float((flat_parameters(policy) - old_params).norm())
    return {
        "policy_loss": check_finite("surrogate", -surrogate_before),
        "policy_grad_norm": grad_norm,
        "linesearch_steps": steps_taken,
        "step_accepted": accepted,
        "surrogate_improvement": improvement,
        "kl_reached": kl_reached,
        "step_norm": step_norm,
        "max_kl": delta,
        "value_loss": fit_value(agent, batch, cfg, rng),
    }
