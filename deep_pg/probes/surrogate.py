"""The gradient being probed, the objective it is the gradient of, and the algorithm's actual step,
as flat parameter vectors; all from the algorithm's own code (``deep_pg.algorithms.losses``).

Gradient (paper Eq. 1, Eq. 14-15), at the current policy pi_0:
    g = grad_theta E[ pi_theta(a|s) / pi_0(a|s) * A_hat ]  at theta = theta_0
      = E[ grad log pi(a|s) * A_hat ]
with A_hat the advantages as the update weighs them: standardized over the estimate's own pairs
when opt.adv_norm is on (as training standardizes them), raw when it is off. PPO's clip does not
change it: at theta_0 every ratio is 1, inside the clip range.
"""

from __future__ import annotations

import copy
import functools
import logging

import numpy as np
import torch
from torch import nn

from deep_pg.algorithms.agents import Agent, PackAgent
from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.losses import normalize, surrogate, surrogate_objective
from deep_pg.algorithms.registry import run_update
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.networks import flat_parameters

log = logging.getLogger("deep_pg")

# Pairs per backward pass: bounds memory for the 1e6-1e7-pair "true" gradient.
GRADIENT_CHUNK = 65536


def surrogate_gradient(policy: nn.Module, batch: Batch, cfg) -> torch.Tensor:
    """The gradient of ``surrogate_objective`` on ``batch`` at the current policy (flat vector),
    for the run of config ``cfg``; in chunks of GRADIENT_CHUNK pairs, the advantages normalized
    over the whole batch first.

    Uses autograd.grad, so the policy's ``.grad`` fields are never touched.
    """
    settings = MemberSettings.from_configs([cfg])  # the run's, as a pack of one
    assert batch.advantages is not None  # a policy batch
    advantages = normalize(batch.advantages, settings.adv_norm)
    params = list(policy.parameters())
    total = [torch.zeros_like(p) for p in params]
    n = len(batch)
    for start in range(0, n, GRADIENT_CHUNK):
        sl = slice(start, start + GRADIENT_CHUNK)
        pairs = surrogate(policy, batch.select(sl), advantages[..., sl], settings.clip_eps)
        objective = pairs.sum() / n
        for acc, g in zip(total, torch.autograd.grad(objective, params)):
            acc += g
    return torch.cat([g.reshape(-1) for g in total])


def surrogate_value(policy: nn.Module, batch: Batch, cfg) -> float:
    """The objective the algorithm of config ``cfg`` maximizes (``surrogate_objective``: PPO's
    clipped, opt.adv_norm as in training) on ``batch`` at ``policy``'s parameters."""
    with torch.no_grad():
        return float(surrogate_objective(policy, batch, MemberSettings.from_configs([cfg])))


def algorithm_step(
    agent: Agent, batch: Batch, cfg, rng: np.random.Generator, progress: float
) -> tuple[torch.Tensor, Agent]:
    """The policy parameter change ``algo.family``'s update makes from ``batch`` (PPO: the whole
    multi-epoch update; TRPO: the natural step after line search): the training update itself,
    run on a pack of one made from a copy of the agent (optimizer state included). ``progress``
    is the fraction of training done, for schedules (opt.lr_anneal, TRPO's algo.max_kl_final).
    Returns (step, the updated copy)."""
    pack = PackAgent.from_agents(
        [copy.deepcopy(agent)], MemberSettings.from_configs([cfg]), cfg.algo.family
    )
    run_update(pack, batch.as_pack(), cfg, [rng], progress)
    twin = pack.member(0)
    step = flat_parameters(twin.policy) - flat_parameters(agent.policy)
    if not step.any():
        _warn_zero_step(cfg.algo.name)
    return step, twin


@functools.cache  # once per process: a probe computes many steps
def _warn_zero_step(algo: str) -> None:
    log.warning(
        "the %s update left the policy unchanged (learning rate 0, e.g. opt.lr_anneal at "
        "the last iteration?): step similarities are NaN, landscapes have no step axis",
        algo,
    )
