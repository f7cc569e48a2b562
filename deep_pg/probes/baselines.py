"""`baselines` probe (paper §2.2, Figure 4): how much each baseline reduces gradient variance.

The `gradient` probe's pairwise cosine similarity of K estimates per sample count, with the
advantages computed three ways:
- ``value_net``: GAE with the agent's value network (what training uses);
- ``true_value``: GAE with a "true" value function: a fresh network fit to Monte-Carlo returns of
  probe.value_fit_samples pairs from the current policy (paper: 5e6), drawn in parts of at most
  probe.part_pairs pairs that ``probe.shards`` jobs may draw (``deep_pg.probes.shards``);
- ``zero``: no baseline, discounted returns in place of advantages.
Also one row (variant ``true_value``, measure ``fit_mre``) with the fitted network's MRE against
Monte-Carlo returns on 10% of those pairs held out of the fit, so its quality is on record.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from deep_pg.algorithms.agents import PackAgent
from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.optim import MemberAdam
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.algorithms.value_fit import fit_value
from deep_pg.config import Activation
from deep_pg.networks import StackedValue, ValueNetwork
from deep_pg.probe_settings import fit_parts
from deep_pg.probes import shards
from deep_pg.probes.context import ProbeContext, to_tensor
from deep_pg.probes.gradient import gradient_estimates, similarity_rows, trial_layout
from deep_pg.probes.stats import mean_relative_error

FIT_EPOCHS = 30
FIT_MINIBATCH = 512
FIT_LR = 1e-3
FIT_ADAM_EPS = 1e-8
FIT_HELDOUT = 0.1
MIN_FIT_PAIRS = 1000

PROBE = "baselines"  # whose parts the fit data is (deep_pg.probes.shards.PartStore)

log = logging.getLogger("deep_pg")


class StandardizedValue(nn.Module):
    """A value network trained on standardized targets, answering in the targets' units."""

    def __init__(self, net: ValueNetwork, mean: float, std: float):
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs) * self.std + self.mean


@dataclass
class FitPart:
    """One part of the fit data: the pairs whose Monte-Carlo return is observable."""

    obs: torch.Tensor  # (n, obs_dim) normalized observations
    returns: torch.Tensor  # (n,) discounted Monte-Carlo returns (context.mc_returns)
    pairs: int  # pairs recorded, observable or not


def draw_fit_part(ctx: ProbeContext, part: int) -> FitPart:
    """value_fit_samples / fit_parts pairs in the agent's batch layout, recorded with a tail long
    enough for their Monte-Carlo returns, from the part's own seed."""
    p = ctx.cfg.probe
    streams, steps = ctx.layout(-(-p.value_fit_samples // fit_parts(p)))
    ((rollout, _),) = ctx.collect_trials(
        1, streams, steps + ctx.mc_tail, ctx.agent.policy, f"baselines/fit/part{part}"
    )
    returns, valid = ctx.mc_returns(rollout)
    return FitPart(to_tensor(rollout.obs[valid]), to_tensor(returns[valid]), int(valid.size))


def fit_drawer(ctx: ProbeContext) -> shards.Drawer:
    return lambda part: draw_fit_part(ctx, part)


def fit_true_value(ctx: ProbeContext) -> tuple[StandardizedValue, float] | None:
    """Fit a fresh network (the agent's architecture) to Monte-Carlo returns of the current
    policy with training's value fitting (``fit_value``: Adam minibatch steps on the squared
    error; FIT_* settings, no value or gradient clipping); returns it and its MRE on the
    held-out tenth, or None when too few returns are observable (see context.mc_returns)."""
    cfg = ctx.cfg
    parts = shards.all_parts(ctx.parts, PROBE, fit_parts(cfg.probe), fit_drawer(ctx))
    obs = torch.cat([part.obs for part in parts])
    targets = torch.cat([part.returns for part in parts])
    if len(targets) < MIN_FIT_PAIRS:
        log.warning(
            "baselines: only %d of %d pairs have an observable Monte-Carlo return (need "
            "%d); skipping the true_value baseline (env.timeout_bootstrap=true on a task "
            "whose episodes only end by the time limit makes returns unobservable)",
            len(targets),
            sum(part.pairs for part in parts),
            MIN_FIT_PAIRS,
        )
        return None
    rng = np.random.default_rng(ctx.seed("baselines/fit_init"))
    order = torch.from_numpy(rng.permutation(len(targets)))
    n_held = max(1, int(FIT_HELDOUT * len(targets)))
    held, train = order[:n_held], order[n_held:]
    mean, std = float(targets[train].mean()), float(targets[train].std()) + 1e-8
    with torch.random.fork_rng():
        torch.manual_seed(ctx.seed("baselines/net_init"))
        net = ValueNetwork(
            obs.shape[1],
            cfg.algo.hidden_sizes,
            Activation(cfg.opt.activation).value,
            cfg.opt.ortho_init,
        )
    fitter = value_fitter(net, MemberSettings.from_configs([cfg]))
    data = Batch.value_targets(obs[train], (targets[train] - mean) / std).as_pack()
    fit_value(fitter, data, FIT_EPOCHS, math.ceil(len(train) / FIT_MINIBATCH), [rng])
    value = StandardizedValue(fitter.value.member(0), mean, std).requires_grad_(False)
    with torch.no_grad():
        fit_mre = mean_relative_error(value(obs[held]).numpy(), targets[held].numpy())
    return value, fit_mre


def value_fitter(net: ValueNetwork, settings: MemberSettings) -> PackAgent:
    """A pack of one that fits only the value network ``net``: Adam at FIT_LR, no value-loss or
    gradient clipping (the run's other ``settings`` are not used by a value fit)."""
    value = StackedValue([net])
    optimizer = MemberAdam(value.parameters(), torch.tensor([FIT_LR]), torch.tensor([FIT_ADAM_EPS]))
    settings = replace(
        settings, value_clip=torch.tensor([False]), value_grad_clip=torch.tensor([float("inf")])
    )
    return PackAgent(None, value, None, optimizer, settings)  # type: ignore[arg-type]  # no policy: a value fit


def run(ctx: ProbeContext) -> list[dict]:
    p = ctx.cfg.probe
    counts = list(p.sample_counts)
    trials = ctx.collect_trials(
        p.num_estimates, *trial_layout(ctx, counts), ctx.agent.policy, "baselines/trials"
    )
    baselines: list[tuple[str, Any, str]] = [
        ("value_net", ctx.agent.value, "value"),
        ("zero", ctx.agent.value, "zero"),
    ]
    rows = []
    fitted = fit_true_value(ctx)
    if fitted is not None:
        true_value, fit_mre = fitted
        baselines.insert(1, ("true_value", true_value, "value"))
        rows.append(
            {
                "variant": "true_value",
                "measure": "fit_mre",
                "trial": 0,
                "value": fit_mre,
                "sample_count": p.value_fit_samples,
                "num_pairs": p.value_fit_samples,
            }
        )
    for variant, value, baseline in baselines:
        estimates = gradient_estimates(ctx, trials, counts, value, baseline)
        rows += similarity_rows(estimates, counts, variant, None, ctx)
    return rows
