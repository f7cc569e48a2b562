"""The gradient being probed and the algorithm's actual step, as flat parameter vectors.

Gradient (paper Eq. 1 with normalized advantages, Eq. 14-15), at the current policy pi_0:
    g = grad_theta E[ pi_theta(a|s) / pi_0(a|s) * A_hat ]  at theta = theta_0  =  E[ grad log pi(a|s) * A_hat ]
with A_hat the advantages standardized over the estimate's own pairs.
"""
from __future__ import annotations

import copy
import functools
import logging

import numpy as np
import torch
from torch import nn

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.common import Agent, MemberSettings, PackAgent, normalize, surrogate
from deep_pg.algorithms.registry import run_update
from deep_pg.networks import flat_parameters

log = logging.getLogger("deep_pg")

# Pairs per backward pass: bounds memory for the 1e6-1e7-pair "true" gradient.
GRADIENT_CHUNK = 65536


def surrogate_gradient(policy: nn.Module, obs: torch.Tensor, actions: torch.Tensor,
                       advantages: torch.Tensor) -> torch.Tensor:
    """Eq. 1 at the current policy with advantages standardized over these pairs (flat vector).

    Uses autograd.grad, so the policy's ``.grad`` fields are never touched.
    """
    adv = normalize(advantages, True)
    params = list(policy.parameters())
    total = [torch.zeros_like(p) for p in params]
    n = obs.shape[0]
    for start in range(0, n, GRADIENT_CHUNK):
        sl = slice(start, start + GRADIENT_CHUNK)
        # sum(log pi * A_hat) / n: the ratio pi_theta / pi_0 has gradient grad log pi at theta_0
        objective = (policy.log_prob(obs[sl], actions[sl]) * adv[sl]).sum() / n
        for acc, g in zip(total, torch.autograd.grad(objective, params)):
            acc += g
    return torch.cat([g.reshape(-1) for g in total])


def surrogate_value(policy: nn.Module, batch: Batch, clip_eps: float | None) -> float:
    """The objective the algorithm maximizes on ``batch`` at ``policy``'s parameters:
    E[ratio * A_hat], or PPO's E[min(ratio * A_hat, clip(ratio, 1 +- eps) * A_hat)] when
    ``clip_eps`` is set (advantages standardized over the whole batch)."""
    adv = normalize(batch.advantages, True)
    with torch.no_grad():
        log_ratio = policy.log_prob(batch.obs, batch.actions) - batch.logp_old
        return float(surrogate(log_ratio, adv, clip_eps).mean())


def algorithm_step(agent: Agent, batch: Batch, cfg, rng: np.random.Generator,
                   progress: float) -> tuple[torch.Tensor, Agent]:
    """The policy parameter change ``algo.family``'s update makes from ``batch`` (PPO: the whole
    multi-epoch update; TRPO: the natural step after line search): the training update itself,
    run on a pack of one made from a copy of the agent (optimizer state included). ``progress``
    is the fraction of training done, for schedules (opt.lr_anneal, TRPO's algo.max_kl_final).
    Returns (step, the updated copy)."""
    pack = PackAgent.from_agents([copy.deepcopy(agent)], MemberSettings.from_configs([cfg]),
                                 cfg.algo.family)
    run_update(pack, batch.as_pack(), cfg, [rng], progress)
    twin = pack.member(0)
    step = flat_parameters(twin.policy) - flat_parameters(agent.policy)
    if not step.any():
        _warn_zero_step(cfg.algo.name)
    return step, twin


@functools.cache  # once per process: a probe computes many steps
def _warn_zero_step(algo: str) -> None:
    log.warning("the %s update left the policy unchanged (learning rate 0, e.g. opt.lr_anneal at "
                "the last iteration?): step similarities are NaN, landscapes have no step axis", algo)
