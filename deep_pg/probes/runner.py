"""Run the selected probes on a run's current state and store the results.

Side-effect free by construction: probes get frozen copies of the normalizers, update deep
copies of the agent, sample with their own ``ParallelSampler`` (own environments, seeds and RNG
streams; its steps are not counted anywhere), and the global torch / numpy / random RNG states
are restored afterwards, so training continues exactly as it would have without them.

A result is marked done with its settings (``done``); the parts that shard jobs drew
(``shards``, ``deep-pg-probe ... probe.shards=S``: the gradient probe's "true" sample, the
baselines probe's fit data, the landscape's return estimates) are read from the run directory
and removed once the probe's table holds them.
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from deep_pg.probe_settings import selected_probes, sharded_parts
from deep_pg.probes import baselines, done, gradient, landscape, shards, trust_region, truth, value
from deep_pg.probes.context import ProbeContext
from deep_pg.probes.normalizers import probe_normalizers
from deep_pg.probes.results import with_means, write_results
from deep_pg.probes.tracking import log_probe
from deep_pg.sampling import ParallelSampler

log = logging.getLogger("deep_pg")

PROBE_FUNCTIONS = {
    "gradient": gradient.run,
    "value": value.run,
    "baselines": baselines.run,
    "landscape": landscape.run,
    "trust_region": trust_region.run,
}

# How each probe that draws its sample in parts draws part p (counted by
# deep_pg.probe_settings.SHARDED_PROBES).
PART_DRAWERS = {
    "gradient": truth.drawer,
    "baselines": baselines.fit_drawer,
    "landscape": landscape.point_drawer,
}


@contextmanager
def isolated_global_rng():
    """Whatever the probes draw from the global RNGs, the caller's streams continue unchanged."""
    torch_state, numpy_state, python_state = (
        torch.get_rng_state(),
        np.random.get_state(),
        random.getstate(),
    )
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


class ProbeRunner:
    """Owns the probes' sampler (started on first use, reused across iterations)."""

    def __init__(self, cfg, run_dir: Path, wandb_run=None):
        self.cfg, self.run_dir, self.wandb_run = cfg, Path(run_dir), wandb_run
        self.probes = selected_probes(cfg.probe.name)
        self.sampler: ParallelSampler | None = None

    def run(self, view) -> dict[str, Path]:
        """Run every selected probe at ``view``'s current iteration (a training member's
        ``deep_pg.trainer.MemberView`` or a ``CheckpointView``); returns the files written."""
        cfg = self.cfg
        written = {}
        with isolated_global_rng():
            ctx = self.context(view)
            for name in self.probes:
                start = time.perf_counter()
                rows = [
                    {"iteration": ctx.iteration, "probe": name, **row}
                    for row in PROBE_FUNCTIONS[name](ctx)
                ]
                df = with_means(rows, cfg.probe.bootstrap_resamples, ctx.seed(name, "bootstrap"))
                written[name] = write_results(self.run_dir, name, ctx.iteration, df)
                done.mark_done(self.run_dir, name, ctx.iteration, cfg.probe)
                log_probe(self.wandb_run, name, ctx.iteration, df)
                log.info(
                    "probe %s at iteration %d: %d rows in %.1fs -> %s",
                    name,
                    ctx.iteration,
                    len(df),
                    time.perf_counter() - start,
                    written[name],
                )
            assert ctx.parts is not None  # context() gives every probe its part store
            ctx.parts.clear(name for name in self.probes if name in PART_DRAWERS)
        return written

    def run_shard(self, view, shard: int) -> list[Path]:
        """Draw shard ``shard`` (of probe.shards) of each selected probe's parts into the run
        directory, for the probes' reduce to read."""
        p = self.cfg.probe
        paths = []
        with isolated_global_rng():
            ctx = self.context(view)
            assert ctx.parts is not None  # context() gives every probe its part store
            for name, num_parts in sharded_parts(p).items():
                start = time.perf_counter()
                drawn = shards.draw_shard(
                    ctx.parts, name, num_parts, p.shards, shard, PART_DRAWERS[name](ctx)
                )
                log.info(
                    "shard %d of %d at iteration %d: %d of the %s probe's %d parts in %.1fs -> %s",
                    shard,
                    p.shards,
                    ctx.iteration,
                    len(drawn),
                    name,
                    num_parts,
                    time.perf_counter() - start,
                    ctx.parts.dir,
                )
                paths += drawn
        return paths

    def context(self, view) -> ProbeContext:
        cfg = self.cfg
        if self.sampler is None:
            self.sampler = ParallelSampler(
                cfg.env.id,
                cfg.env.max_episode_steps,
                cfg.probe.num_workers,
                cfg.probe.envs_per_worker,
            )
        ctx = ProbeContext(
            cfg,
            view.agent,
            *probe_normalizers(view),
            view.iteration,
            view.num_iterations,
            self.sampler,
        )
        ctx.parts = shards.PartStore(
            self.run_dir,
            cfg,
            ctx.iteration,
            ctx.agent.policy,
            done.settings(cfg.probe),
            (ctx.obs_normalizer, ctx.reward_scaler),
        )
        return ctx

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None
