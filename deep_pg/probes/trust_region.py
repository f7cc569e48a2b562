"""`trust_region` probe (blog part 3; paper's trust-region discussion): does the update stay in
its trust region? For each of K trials, a fresh training batch (the agent's layout) and a held-out
batch of probe.heldout_samples pairs, both from the pre-update policy pi_old; the algorithm's
update is applied to a copy of the agent, and for pi_new vs pi_old we report
``mean_kl`` = mean over states of KL(pi_old || pi_new) and
``max_ratio`` = max pi_new(a|s) / pi_old(a|s), as variant ``train`` and ``heldout``. (Training
also logs the train values every iteration in metrics.jsonl; this probe adds the held-out side.)
"""

from __future__ import annotations

import numpy as np

from deep_pg.algorithms.metrics import trust_region_metrics
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.probes.context import ProbeContext, take
from deep_pg.probes.surrogate import algorithm_step

MEASURES = ("mean_kl", "max_ratio")


def run(ctx: ProbeContext) -> list[dict]:
    p, policy, cfg = ctx.cfg.probe, ctx.agent.policy, ctx.cfg
    clip_eps = MemberSettings.from_configs([cfg]).report_clip_eps  # as training reports clip_frac
    layouts = {
        "train": ctx.layout(cfg.algo.steps_per_iter),
        "heldout": ctx.layout(p.heldout_samples),
    }
    data = {
        name: ctx.collect_trials(p.num_estimates, *layout, policy, f"trust_region/{name}")
        for name, layout in layouts.items()
    }
    rows = []
    for k in range(p.num_estimates):
        batches = {
            name: ctx.batch(take(data[name][k][0], slice(None), layouts[name][1]))
            for name in layouts
        }
        _, updated = algorithm_step(
            ctx.agent,
            batches["train"],
            cfg,
            np.random.default_rng(ctx.seed("trust_region/update", k)),
            ctx.progress,
        )
        for name, batch in batches.items():
            metrics = trust_region_metrics(updated.policy, batch, clip_eps)
            rows += [
                {
                    "variant": name,
                    "measure": m,
                    "sample_count": len(batch),
                    "num_pairs": len(batch),
                    "trial": k,
                    "value": float(metrics[m]),
                }
                for m in MEASURES
            ]
    return rows
