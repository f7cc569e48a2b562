"""`value` probe (paper §2.2, Figures 3, 11, 12): how well the value network predicts values.

For each of K trials: a fresh training batch from the current policy (the agent's layout), the
algorithm's update applied to a copy of the agent (which fits its value network to that batch), a
held-out batch of probe.heldout_samples fresh pairs from the same policy. The fitted network's
mean relative error |V - target| / |target| is reported for
- variant ``gae``: targets V_old + A_GAE (what the network is trained to fit, Eq. 4),
- variant ``returns``: true discounted Monte-Carlo returns (what it is meant to predict),
with measure ``train`` (on the batch it was fit on) and ``heldout``. Monte-Carlo returns use
the steps recorded past each batch; states whose return is not observed accurately enough (see
``context.mc_returns``) are left out, and the ``returns`` rows are missing when none is (e.g.
Pendulum, never terminal, with env.timeout_bootstrap=true: its infinite-horizon return is never
observed).
"""
from __future__ import annotations

import numpy as np
import torch

from deep_pg.probes.context import ProbeContext, take
from deep_pg.probes.stats import mean_relative_error
from deep_pg.probes.surrogate import algorithm_step


def run(ctx: ProbeContext) -> list[dict]:
    p, policy = ctx.cfg.probe, ctx.agent.policy
    train_layout = ctx.layout(ctx.cfg.algo.steps_per_iter)
    held_layout = ctx.layout(p.heldout_samples)
    train = ctx.collect_trials(p.num_estimates, train_layout[0], train_layout[1] + ctx.mc_tail,
                               policy, "value/train")
    held = ctx.collect_trials(p.num_estimates, held_layout[0], held_layout[1] + ctx.mc_tail,
                              policy, "value/heldout")
    rows = []
    for k in range(p.num_estimates):
        train_batch = ctx.batch(take(train[k][0], slice(None), train_layout[1]))
        _, fitted = algorithm_step(ctx.agent, train_batch, ctx.cfg,
                                   np.random.default_rng(ctx.seed("value/update", k)), ctx.progress)
        for measure, (rollout, _), (streams, steps), batch in (
                ("train", train[k], train_layout, train_batch),
                ("heldout", held[k], held_layout, None)):
            if batch is None:
                batch = ctx.batch(take(rollout, slice(None), steps))
            with torch.no_grad():
                predicted = fitted.value(batch.obs).numpy()
            returns, valid = ctx.mc_returns(rollout)
            returns, valid = returns[:steps].reshape(-1), valid[:steps].reshape(-1)
            common = {"measure": measure, "sample_count": streams * steps, "trial": k}
            rows.append({**common, "variant": "gae", "num_pairs": streams * steps,
                         "value": mean_relative_error(predicted, batch.returns.numpy())})
            if valid.any():  # see context.mc_returns for when no return is observable
                rows.append({**common, "variant": "returns", "num_pairs": int(valid.sum()),
                             "value": mean_relative_error(predicted[valid], returns[valid])})
    return rows
