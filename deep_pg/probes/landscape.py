"""`landscape` probe (paper §2.3, Figures 5-7, 13-20): true return and surrogate objective around
the current policy theta_0, on the plane

    theta(a, b) = theta_0 + a * step + b * random,
    a, b in linspace(0, probe.landscape_max, probe.landscape_grid)

``step`` is the algorithm's update from a batch of m pairs, one landscape per m in
probe.landscape_step_samples (the agent's 2,048 and optionally many more); ``random`` is a Gaussian
direction scaled to unit L2 norm (our reading of the paper's "random norm 2 Gaussian vector"),
over all policy parameters including log_std, the same for every m. At each point:
- measures ``return`` (mean undiscounted episode return, as training reports) and
  ``discounted_return`` (from the initial state), estimated from complete episodes worth
  ``sample_count`` pairs for each count in probe.landscape_samples, each point with its own seed,
  with a 95% bootstrap interval over episodes; each (step batch size, point, count) is one part
  that ``probe.shards`` jobs may draw (``deep_pg.probes.shards``);
- measure ``surrogate``: the objective the algorithm maximizes (``surrogate_objective``: PPO's
  clipped, opt.adv_norm as in training), evaluated on the step's batch.
Every row has variant ``step_random`` (the plane: step direction x random direction) and carries
``step_samples``, ``step_coef`` (a), ``random_coef`` (b) and ``step_norm`` (L2 norm of
the step); ``trial`` is MEAN_TRIAL since each point is one estimate with its own interval.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from deep_pg.bootstrap import bootstrap_ci
from deep_pg.networks import flat_parameters, set_flat_parameters
from deep_pg.probe_settings import landscape_parts
from deep_pg.probes import shards
from deep_pg.probes.context import ProbeContext
from deep_pg.probes.results import MEAN_TRIAL
from deep_pg.probes.surrogate import algorithm_step, surrogate_value
from deep_pg.sampling import EpisodeStats

PLANE = "step_random"  # the landscape's one condition: the step x random-direction plane
PROBE = "landscape"  # whose parts the return estimates are (deep_pg.probes.shards.PartStore)


def policy_return(ctx: ProbeContext, policy, num_pairs: int, seed: int) -> EpisodeStats:
    """Complete episodes of ``policy`` worth ``num_pairs`` pairs (frozen normalizers)."""
    ctx.sampler.set_policy(policy, ctx.obs_normalizer, ctx.reward_scaler)
    return ctx.sampler.episodes(num_pairs, seed, ctx.cfg.algo.gamma)


def random_direction(ctx: ProbeContext, size: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(ctx.seed("landscape/random_direction"))
    direction = torch.randn(size, generator=gen)
    return direction / direction.norm()


class Plane:
    """The plane around theta_0 for each step batch size m, and the return estimate at each of
    its points: part ``u`` of the probe is (m, i, j, n) in C order over
    (probe.landscape_step_samples, grid, grid, probe.landscape_samples)."""

    def __init__(self, ctx: ProbeContext):
        p = ctx.cfg.probe
        self.ctx, self.theta0 = ctx, flat_parameters(ctx.agent.policy)
        self.random = random_direction(ctx, self.theta0.numel())
        self.coefs = np.linspace(0.0, p.landscape_max, p.landscape_grid)
        self.shape = (
            len(p.landscape_step_samples),
            p.landscape_grid,
            p.landscape_grid,
            len(p.landscape_samples),
        )
        self.twin = copy.deepcopy(ctx.agent.policy)
        self.steps: dict[int, tuple] = {}

    def step(self, m: int):
        """The algorithm's update from a batch of ``m`` pairs, and that batch (made once)."""
        if m not in self.steps:
            ctx = self.ctx
            ((rollout, _),) = ctx.collect_trials(
                1, *ctx.layout(m), ctx.agent.policy, f"landscape/step/{m}"
            )
            batch = ctx.batch(rollout)
            step, _ = algorithm_step(
                ctx.agent,
                batch,
                ctx.cfg,
                np.random.default_rng(ctx.seed("landscape/update", m)),
                ctx.progress,
            )
            self.steps[m] = step, batch
        return self.steps[m]

    def at(self, m: int, i: int, j: int):
        """The policy at point (i, j) of step batch size ``m``'s plane (one reused network)."""
        step, _ = self.step(m)
        set_flat_parameters(
            self.twin,
            self.theta0 + float(self.coefs[i]) * step + float(self.coefs[j]) * self.random,
        )
        return self.twin

    def draw_point(self, part: int) -> EpisodeStats:
        p = self.ctx.cfg.probe
        k, i, j, c = map(int, np.unravel_index(part, self.shape))
        m, n = int(p.landscape_step_samples[k]), int(p.landscape_samples[c])
        return policy_return(
            self.ctx, self.at(m, i, j), n, self.ctx.seed("landscape/return", m, i, j, n)
        )


def point_drawer(ctx: ProbeContext) -> shards.Drawer:
    return Plane(ctx).draw_point


def run(ctx: ProbeContext) -> list[dict]:
    p, cfg = ctx.cfg.probe, ctx.cfg
    plane = Plane(ctx)
    points = iter(shards.all_parts(ctx.parts, PROBE, landscape_parts(p), plane.draw_point))
    rows = []
    for m in p.landscape_step_samples:
        step, batch = plane.step(m)
        for i, a in enumerate(plane.coefs):
            for j, b in enumerate(plane.coefs):
                point = {
                    "variant": PLANE,
                    "step_samples": m,
                    "step_coef": float(a),
                    "random_coef": float(b),
                    "step_norm": float(step.norm()),
                    "trial": MEAN_TRIAL,
                }
                rows.append(
                    {
                        **point,
                        "measure": "surrogate",
                        "sample_count": len(batch),
                        "num_pairs": len(batch),
                        "value": surrogate_value(plane.at(m, i, j), batch, cfg),
                    }
                )
                for n in p.landscape_samples:
                    stats = next(points)
                    for measure, values in (
                        ("return", stats.returns),
                        ("discounted_return", stats.discounted_returns),
                    ):
                        _, low, high = bootstrap_ci(
                            [values],
                            n_resamples=p.bootstrap_resamples,
                            seed=ctx.seed("landscape/ci", m, i, j, n),
                        )
                        rows.append(
                            {
                                **point,
                                "measure": measure,
                                "sample_count": n,
                                "num_pairs": stats.num_pairs,
                                "value": float(values.mean()),
                                "ci_low": low,
                                "ci_high": high,
                                "num_episodes": len(values),
                            }
                        )
    return rows
