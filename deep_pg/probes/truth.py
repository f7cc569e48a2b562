"""The gradient probe's "true" sample, in parts that ``probe.shards`` jobs may draw
(``deep_pg.probes.shards``).

Each half of the truth (``probe.true_samples / 2`` pairs) is drawn as parts of at most
``probe.part_pairs`` pairs, part ``p`` from its own seed ``(run seed, iteration, TRUTH, p)``.
A part keeps its rollout (the algorithm's step on the truth needs the data itself) and the sums
of its per-pair gradient terms, from which the gradient of any union of parts is exact
(``GradientSums.gradient``): standardizing the advantages over the union (opt.adv_norm) needs
only their sum and sum of squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from deep_pg.algorithms.batch import Batch
from deep_pg.experience import Rollout
from deep_pg.probe_settings import truth_parts
from deep_pg.probes import shards
from deep_pg.probes.context import ProbeContext, join_streams
from deep_pg.probes.surrogate import GRADIENT_CHUNK

PROBE = "gradient"  # whose parts these are (deep_pg.probes.shards.PartStore)
ADV_EPS = 1e-8  # as deep_pg.algorithms.losses.normalize
TRUTH = "gradient/true"  # the purpose (seeds, part files) of the "true" sample


@dataclass
class GradientSums:
    """Sums over pairs of the terms of the surrogate gradient (Eq. 1 at the current policy)."""

    weighted: torch.Tensor  # (P,) float64: sum_i grad log pi(a_i|s_i) * A_i
    score: torch.Tensor  # (P,) float64: sum_i grad log pi(a_i|s_i)
    adv: float  # sum_i A_i
    adv_sq: float  # sum_i A_i^2
    count: int

    def __add__(self, other: GradientSums) -> GradientSums:
        return GradientSums(
            self.weighted + other.weighted,
            self.score + other.score,
            self.adv + other.adv,
            self.adv_sq + other.adv_sq,
            self.count + other.count,
        )

    def gradient(self, adv_norm: bool) -> torch.Tensor:
        """``surrogate_gradient`` of all the pairs summed: mean_i grad log pi_i * A_i, with A_i
        standardized over the pairs (A_i - mean) / (std + eps), std with n - 1 as torch's, when
        ``adv_norm`` (opt.adv_norm) is on."""
        n = self.count
        if not adv_norm:
            return (self.weighted / n).float()
        mean = self.adv / n
        std = math.sqrt(max(self.adv_sq - n * mean * mean, 0.0) / (n - 1))
        return ((self.weighted - mean * self.score) / ((std + ADV_EPS) * n)).float()


def gradient_sums(policy, batch: Batch) -> GradientSums:
    """The sums of ``batch``'s pairs, in chunks of GRADIENT_CHUNK pairs (bounded memory)."""
    params = list(policy.parameters())
    flat = lambda grads: torch.cat([g.reshape(-1) for g in grads]).double()
    assert batch.actions is not None and batch.advantages is not None  # a policy batch
    weighted: Any = 0  # then the summed flat gradients
    score: Any = 0
    for start in range(0, len(batch.obs), GRADIENT_CHUNK):
        sl = slice(start, start + GRADIENT_CHUNK)
        log_prob = policy.log_prob(batch.obs[sl], batch.actions[sl])
        weighted = weighted + flat(
            torch.autograd.grad((log_prob * batch.advantages[sl]).sum(), params, retain_graph=True)
        )
        score = score + flat(torch.autograd.grad(log_prob.sum(), params))
    adv = batch.advantages.double()
    return GradientSums(weighted, score, float(adv.sum()), float((adv * adv).sum()), len(adv))


@dataclass
class Part:
    rollout: Rollout
    sums: GradientSums


def part_layout(ctx: ProbeContext) -> tuple[int, int]:
    """(streams, steps) of every part: a half's pairs spread evenly over its parts, each part
    over all the sampler's environments (one request keeps them all busy)."""
    p = ctx.cfg.probe
    per_half = truth_parts(p) // 2
    streams = ctx.sampler.capacity
    return streams, math.ceil((p.true_samples // 2) / per_half / streams)


def draw_part(ctx: ProbeContext, part: int) -> Part:
    streams, steps = part_layout(ctx)
    ((rollout, _),) = ctx.collect_trials(1, streams, steps, ctx.agent.policy, f"{TRUTH}/part{part}")
    rollout = Rollout(
        rollout.obs,
        rollout.actions,
        rollout.rewards,
        rollout.terminated,
        rollout.truncated,
        rollout.final_obs,
    )  # the data only
    return Part(rollout, gradient_sums(ctx.agent.policy, ctx.batch(rollout)))


def drawer(ctx: ProbeContext) -> shards.Drawer:
    return lambda part: draw_part(ctx, part)


def truth_halves(ctx: ProbeContext) -> tuple[list[Part], list[Part]]:
    """Every part of the truth, read where a shard job drew it, else drawn here."""
    num_parts = truth_parts(ctx.cfg.probe)
    parts = shards.all_parts(ctx.parts, PROBE, num_parts, drawer(ctx))
    return parts[: num_parts // 2], parts[num_parts // 2 :]


def joined(parts: list[Part]) -> Rollout:
    rollout = parts[0].rollout
    for part in parts[1:]:
        rollout = join_streams(rollout, part.rollout)
    return rollout


def total(parts: list[Part]) -> GradientSums:
    sums = parts[0].sums
    for part in parts[1:]:
        sums = sums + part.sums
    return sums


@dataclass
class TrueSample:
    """The probe.true_samples pairs the "true" gradient and step come from, as two independent
    halves of true_samples / 2 pairs each."""

    batch: Batch  # both halves
    halves: list[Batch]
    half_sums: list[GradientSums]
    adv_norm: bool  # opt.adv_norm: the gradient's advantages standardized, as in training

    @property
    def gradient(self) -> torch.Tensor:
        return (self.half_sums[0] + self.half_sums[1]).gradient(self.adv_norm)

    @property
    def half_gradients(self) -> list[torch.Tensor]:
        return [sums.gradient(self.adv_norm) for sums in self.half_sums]


def true_sample(ctx: ProbeContext) -> TrueSample:
    halves = truth_halves(ctx)
    rollouts = [joined(half) for half in halves]
    return TrueSample(
        ctx.batch(join_streams(*rollouts)),
        [ctx.batch(r) for r in rollouts],
        [total(half) for half in halves],
        bool(ctx.cfg.opt.adv_norm),
    )
