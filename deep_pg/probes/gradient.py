"""`gradient` probe (paper §2.1, Figures 1-2, 9-10; Appendix A.4 for steps).

At one policy, K independent estimates of the surrogate gradient (Eq. 1, normalized advantages)
for each sample count n, each from a batch of n pairs built as the agent builds its batch
(same streams, GAE, value net). Reported per sample count:
- measure ``pairwise``: each estimate's mean cosine similarity to the other K-1 (Figure 1);
- measure ``true``: its cosine similarity to the "true" gradient from probe.true_samples pairs
  (Figure 2);
for variant ``gradient`` (the raw estimate) and variant ``step`` (the parameter change the
algorithm's update makes from that batch: PPO's full update, TRPO's natural step).
"""
from __future__ import annotations

import numpy as np
import torch

from deep_pg.probes.context import ProbeContext, take
from deep_pg.probes.stats import cosine_similarity, pairwise_cosine
from deep_pg.probes.surrogate import algorithm_step, surrogate_gradient


def trial_layout(ctx: ProbeContext, counts: list[int]) -> tuple[int, int]:
    """Streams and steps of one trial's data: wide enough for the largest count's layout and long
    enough for every count's, so each count's batch is a corner of it."""
    return ctx.layout(max(counts))[0], max(ctx.layout(n)[1] for n in counts)


def batches(ctx: ProbeContext, rollout, counts: list[int], value=None, baseline=None):
    """The batch of each sample count: the first streams x steps of the trial's data."""
    for n in counts:
        streams, steps = ctx.layout(n)
        yield ctx.batch(take(rollout, slice(0, streams), steps), value, baseline)


def gradient_estimates(ctx: ProbeContext, trials, counts: list[int], value=None,
                       baseline=None) -> torch.Tensor:
    """(K, len(counts), P) surrogate gradients, one per trial and count."""
    policy = ctx.agent.policy
    return torch.stack([
        torch.stack([surrogate_gradient(policy, b.obs, b.actions, b.advantages)
                     for b in batches(ctx, rollout, counts, value, baseline)])
        for rollout, _ in trials])


def step_estimates(ctx: ProbeContext, trials, counts: list[int], purpose: str) -> torch.Tensor:
    """(K, len(counts), P) algorithm steps, one per trial and count."""
    out = []
    for k, (rollout, _) in enumerate(trials):
        out.append(torch.stack([
            algorithm_step(ctx.agent, b, ctx.cfg, np.random.default_rng(ctx.seed(purpose, k, c)),
                           ctx.progress)[0]
            for c, b in enumerate(batches(ctx, rollout, counts))]))
    return torch.stack(out)


def similarity_rows(estimates: torch.Tensor, counts: list[int], variant: str,
                    reference: torch.Tensor | None, ctx: ProbeContext) -> list[dict]:
    """Rows of ``pairwise`` similarity and, given a reference, similarity to it (``true``)."""
    rows = []
    for c, n in enumerate(counts):
        pairs = int(np.prod(ctx.layout(n)))
        measures = {"pairwise": pairwise_cosine(estimates[:, c])}
        if reference is not None:
            measures["true"] = [cosine_similarity(e, reference) for e in estimates[:, c]]
        for measure, values in measures.items():
            rows += [{"variant": variant, "measure": measure, "sample_count": n,
                      "num_pairs": pairs, "trial": k, "value": float(v)}
                     for k, v in enumerate(values)]
    return rows


def true_batch(ctx: ProbeContext, purpose: str):
    """The batch of probe.true_samples pairs the "true" gradient and step are computed from."""
    streams, steps = ctx.layout(ctx.cfg.probe.true_samples)
    (rollout, _), = ctx.collect_trials(1, streams, steps, ctx.agent.policy, purpose)
    return ctx.batch(rollout)


def run(ctx: ProbeContext) -> list[dict]:
    p, policy = ctx.cfg.probe, ctx.agent.policy
    counts = list(p.sample_counts)
    trials = ctx.collect_trials(p.num_estimates, *trial_layout(ctx, counts), policy, "gradient/trials")
    truth = true_batch(ctx, "gradient/true")
    true_gradient = surrogate_gradient(policy, truth.obs, truth.actions, truth.advantages)
    true_step, _ = algorithm_step(ctx.agent, truth, ctx.cfg,
                                  np.random.default_rng(ctx.seed("gradient/true_step")), ctx.progress)
    return (similarity_rows(gradient_estimates(ctx, trials, counts), counts, "gradient",
                            true_gradient, ctx)
            + similarity_rows(step_estimates(ctx, trials, counts, "gradient/step"), counts, "step",
                              true_step, ctx))
