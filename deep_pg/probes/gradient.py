"""`gradient` probe (paper §2.1, Figures 1-2, 9-10; Appendix A.4 for steps).

At one policy, K independent estimates of the surrogate gradient (Eq. 1, normalized advantages)
for each sample count n, each from a batch of n pairs built as the agent builds its batch
(same streams, GAE, value net). Reported per sample count:
- measure ``pairwise``: each estimate's mean cosine similarity to the other K-1 (Figure 1); the
  mean row's interval resamples the K estimates (``stats.pairwise_bootstrap_ci``);
- measure ``true``: its cosine similarity to the "true" gradient from probe.true_samples pairs
  (Figure 2);
- measure ``true_corrected``: ``true`` / sqrt(rho_N), the similarity to the noise-free direction
  that ``true`` would be if the truth had no noise of its own (see below);
for variant ``gradient`` (the raw estimate) and variant ``step`` (the parameter change the
algorithm's update makes from that batch: PPO's full update, TRPO's natural step).

The "true" direction from N pairs is itself noisy, which shrinks every ``true`` cosine by about
sqrt(rho_N), rho_N being the cosine of two independent N-pair truths. It is therefore built from
two independent halves of N/2 pairs (drawn in parts, which ``probe.shards`` jobs may share:
``deep_pg.probes.truth``); the "true" gradient and step are computed from both halves
together, and the cosine of the two halves' own gradients (steps) is measure ``truth_halves``
(rho_{N/2}). Measure ``truth_reliability`` is rho_N = 2 rho_{N/2} / (1 + rho_{N/2})
(Spearman-Brown: an N-pair estimate is, to first order, the mean of two independent halves; it
assumes noise independent of the direction, exact for gradients up to the per-half advantage
standardization, an approximation for PPO's multi-epoch step).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from deep_pg.probes.context import ProbeContext, take
from deep_pg.probes.results import MEAN_TRIAL
from deep_pg.probes.stats import (
    corrected_cosine,
    cosine_similarity,
    pairwise_bootstrap_ci,
    pairwise_cosine,
    spearman_brown,
)
from deep_pg.probes.surrogate import algorithm_step, surrogate_gradient
from deep_pg.probes.truth import true_sample


def trial_layout(ctx: ProbeContext, counts: list[int]) -> tuple[int, int]:
    """Streams and steps of one trial's data: wide enough for the largest count's layout and long
    enough for every count's, so each count's batch is a corner of it."""
    return ctx.layout(max(counts))[0], max(ctx.layout(n)[1] for n in counts)


def batches(ctx: ProbeContext, rollout, counts: list[int], value=None, baseline=None):
    """The batch of each sample count: the first streams x steps of the trial's data."""
    for n in counts:
        streams, steps = ctx.layout(n)
        yield ctx.batch(take(rollout, slice(0, streams), steps), value, baseline)


def gradient_estimates(
    ctx: ProbeContext, trials, counts: list[int], value=None, baseline=None
) -> torch.Tensor:
    """(K, len(counts), P) surrogate gradients, one per trial and count."""
    policy = ctx.agent.policy
    return torch.stack(
        [
            torch.stack(
                [
                    surrogate_gradient(policy, b, ctx.cfg)
                    for b in batches(ctx, rollout, counts, value, baseline)
                ]
            )
            for rollout, _ in trials
        ]
    )


def step_estimates(ctx: ProbeContext, trials, counts: list[int], purpose: str) -> torch.Tensor:
    """(K, len(counts), P) algorithm steps, one per trial and count."""
    out = []
    for k, (rollout, _) in enumerate(trials):
        out.append(
            torch.stack(
                [
                    algorithm_step(
                        ctx.agent,
                        b,
                        ctx.cfg,
                        np.random.default_rng(ctx.seed(purpose, k, c)),
                        ctx.progress,
                    )[0]
                    for c, b in enumerate(batches(ctx, rollout, counts))
                ]
            )
        )
    return torch.stack(out)


def similarity_rows(
    estimates: torch.Tensor,
    counts: list[int],
    variant: str,
    reference: torch.Tensor | None,
    ctx: ProbeContext,
    reliability: float | None = None,
) -> list[dict]:
    """Rows of ``pairwise`` similarity and, given a reference, similarity to it (``true``) and,
    given the reference's reliability rho_N, that similarity corrected for its noise."""
    rows = []
    for c, n in enumerate(counts):
        pairs = int(np.prod(ctx.layout(n)))
        measures: dict[str, Any] = {"pairwise": pairwise_cosine(estimates[:, c])}
        if reference is not None:
            measures["true"] = [cosine_similarity(e, reference) for e in estimates[:, c]]
        if reliability is not None:
            measures["true_corrected"] = [
                corrected_cosine(v, reliability) for v in measures["true"]
            ]
        common = {"variant": variant, "sample_count": n, "num_pairs": pairs}
        for measure, values in measures.items():
            rows += [
                {**common, "measure": measure, "trial": k, "value": float(v)}
                for k, v in enumerate(values)
            ]
        low, high = pairwise_bootstrap_ci(
            estimates[:, c], ctx.cfg.probe.bootstrap_resamples, ctx.seed(variant, n, "pairwise_ci")
        )
        rows.append(
            {
                **common,
                "measure": "pairwise",
                "trial": MEAN_TRIAL,
                "value": float(np.mean(measures["pairwise"])),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows


def reliability_rows(
    halves: tuple[torch.Tensor, torch.Tensor], variant: str, half_pairs: int
) -> tuple[list[dict], float]:
    """The ``truth_halves`` (rho_{N/2}) and ``truth_reliability`` (rho_N) rows, and rho_N."""
    rho_half = cosine_similarity(*halves)
    rho = spearman_brown(rho_half)
    common = {"variant": variant, "trial": 0}
    return [
        {
            **common,
            "measure": "truth_halves",
            "sample_count": half_pairs,
            "num_pairs": half_pairs,
            "value": rho_half,
        },
        {
            **common,
            "measure": "truth_reliability",
            "sample_count": 2 * half_pairs,
            "num_pairs": 2 * half_pairs,
            "value": rho,
        },
    ], rho


def run(ctx: ProbeContext) -> list[dict]:
    p, policy = ctx.cfg.probe, ctx.agent.policy
    counts = list(p.sample_counts)
    trials = ctx.collect_trials(
        p.num_estimates, *trial_layout(ctx, counts), policy, "gradient/trials"
    )
    truth = true_sample(ctx)
    half_pairs = len(truth.halves[0])
    half_steps = [
        algorithm_step(
            ctx.agent,
            h,
            ctx.cfg,
            np.random.default_rng(ctx.seed("gradient/true_step_half", i)),
            ctx.progress,
        )[0]
        for i, h in enumerate(truth.halves)
    ]
    true_step, _ = algorithm_step(
        ctx.agent,
        truth.batch,
        ctx.cfg,
        np.random.default_rng(ctx.seed("gradient/true_step")),
        ctx.progress,
    )
    rows = []
    for variant, estimates, parts, reference in (
        ("gradient", gradient_estimates(ctx, trials, counts), truth.half_gradients, truth.gradient),
        ("step", step_estimates(ctx, trials, counts, "gradient/step"), half_steps, true_step),
    ):
        truth_rows, rho = reliability_rows((parts[0], parts[1]), variant, half_pairs)
        rows += similarity_rows(estimates, counts, variant, reference, ctx, rho) + truth_rows
    return rows
