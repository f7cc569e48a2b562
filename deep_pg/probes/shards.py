"""The "true" sample in parts, so that ``probe.shards`` jobs can draw it together.

Each half of the truth (``probe.true_samples / 2`` pairs) is drawn as parts of at most
``probe.part_pairs`` pairs, part ``p`` from its own seed ``(run seed, iteration, purpose, p)``.
Which job draws a part, and how many jobs run at once, therefore never changes the sample: a
sharded truth is the unsharded one. A part keeps its rollout (the algorithm's step on the truth
needs the data itself) and the sums of its per-pair gradient terms, from which the gradient of
any union of parts is exact (``GradientSums.gradient``): standardizing the advantages over the
union (opt.adv_norm) needs only their sum and sum of squares.

Shard ``s`` of ``S`` draws a contiguous range of parts into ``PartStore`` (atomic files in the
run directory); the reduce (the probe itself) reads them and draws whatever is missing.
"""
from __future__ import annotations

import hashlib
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deep_pg.algorithms.batch import Batch
from deep_pg.atomic import atomic_open
from deep_pg.networks import flat_parameters
from deep_pg.probes.context import ProbeContext, join_streams
from deep_pg.probes.surrogate import GRADIENT_CHUNK
from deep_pg.probes.validation import truth_parts
from deep_pg.sampling.rollout import Rollout

SHARDS_DIR = "probes/shards"
ADV_EPS = 1e-8  # as deep_pg.algorithms.common.normalize


@dataclass
class GradientSums:
    """Sums over pairs of the terms of the surrogate gradient (Eq. 1 at the current policy)."""

    weighted: torch.Tensor  # (P,) float64: sum_i grad log pi(a_i|s_i) * A_i
    score: torch.Tensor  # (P,) float64: sum_i grad log pi(a_i|s_i)
    adv: float  # sum_i A_i
    adv_sq: float  # sum_i A_i^2
    count: int

    def __add__(self, other: GradientSums) -> GradientSums:
        return GradientSums(self.weighted + other.weighted, self.score + other.score,
                            self.adv + other.adv, self.adv_sq + other.adv_sq, self.count + other.count)

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
    weighted = score = 0
    for start in range(0, len(batch.obs), GRADIENT_CHUNK):
        sl = slice(start, start + GRADIENT_CHUNK)
        log_prob = policy.log_prob(batch.obs[sl], batch.actions[sl])
        weighted = weighted + flat(torch.autograd.grad((log_prob * batch.advantages[sl]).sum(),
                                                       params, retain_graph=True))
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


def shard_parts(num_parts: int, shards: int, shard: int) -> range:
    """The contiguous parts shard ``shard`` of ``shards`` draws (sizes differ by at most one)."""
    bounds = np.linspace(0, num_parts, shards + 1).round().astype(int)
    return range(bounds[shard], bounds[shard + 1])


def draw_part(ctx: ProbeContext, purpose: str, part: int) -> Part:
    streams, steps = part_layout(ctx)
    (rollout, _), = ctx.collect_trials(1, streams, steps, ctx.agent.policy, f"{purpose}/part{part}")
    rollout = Rollout(rollout.obs, rollout.actions, rollout.rewards, rollout.terminated,
                      rollout.truncated, rollout.final_obs)  # the data only
    return Part(rollout, gradient_sums(ctx.agent.policy, ctx.batch(rollout)))


def draw_shard(ctx: ProbeContext, purpose: str, store: PartStore, shard: int) -> list[Path]:
    """Draw shard ``shard``'s parts (of probe.shards) into ``store``; parts already there stay."""
    for part in missing_parts(ctx.cfg.probe, purpose, store, shard):
        store.save(purpose, part, draw_part(ctx, purpose, part))
    return [store.path(purpose, p) for p in shard_parts(truth_parts(ctx.cfg.probe),
                                                         ctx.cfg.probe.shards, shard)]


def missing_parts(probe_cfg, purpose: str, store: PartStore, shard: int) -> list[int]:
    return [p for p in shard_parts(truth_parts(probe_cfg), probe_cfg.shards, shard)
            if store.load(purpose, p) is None]


def truth_halves(ctx: ProbeContext, purpose: str) -> tuple[list[Part], list[Part]]:
    """Every part of the truth, read from ``ctx.parts`` where a shard drew it, else drawn here."""
    num_parts = truth_parts(ctx.cfg.probe)
    parts = [(ctx.parts.load(purpose, p) if ctx.parts else None) or draw_part(ctx, purpose, p)
             for p in range(num_parts)]
    return parts[:num_parts // 2], parts[num_parts // 2:]


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


class PartStore:
    """``probes/shards/iter_<n>/<purpose>.part<p>.pt`` in the run directory. Each file carries
    what it was drawn from (probe settings, policy parameters), so a stale part is redrawn."""

    def __init__(self, run_dir: Path, cfg, iteration: int, policy, settings: dict):
        self.dir = Path(run_dir) / SHARDS_DIR / f"iter_{iteration}"
        params = flat_parameters(policy).detach().numpy().tobytes()
        self.identity = {"settings": settings, "seed": int(cfg.seed), "iteration": iteration,
                         "policy": hashlib.sha256(params).hexdigest()}

    def path(self, purpose: str, part: int) -> Path:
        return self.dir / f"{purpose.replace('/', '-')}.part{part}.pt"

    def load(self, purpose: str, part: int) -> Part | None:
        path = self.path(purpose, part)
        if not path.exists():
            return None
        saved = torch.load(path, weights_only=False)
        return saved["part"] if saved["identity"] == self.identity else None

    def save(self, purpose: str, part: int, data: Part) -> None:
        with atomic_open(self.path(purpose, part), "wb") as f:
            torch.save({"identity": self.identity, "part": data}, f)

    def clear(self) -> None:
        """After the reduce: the parts are in the probe table now."""
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir.parent.is_dir() and not any(self.dir.parent.iterdir()):
            self.dir.parent.rmdir()
