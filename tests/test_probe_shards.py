"""Sharded probe samples (deep_pg/probes/shards.py): any number of shard jobs draws the same
sample, and what the probe reduces from their parts is the unsharded result of that sample: the
gradient's "true" sample, the baselines probe's fit data and the landscape's return estimates."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from conftest import TINY, make_cfg

from deep_pg.probe_settings import SHARDED_PROBES, fit_parts, landscape_parts, truth_parts
from deep_pg.probes import baselines, done, landscape, shards, truth
from deep_pg.probes.context import ProbeContext
from deep_pg.probes.runner import PART_DRAWERS
from deep_pg.probes.surrogate import surrogate_gradient
from deep_pg.sampling import ParallelSampler
from deep_pg.trainer import Trainer

# 2048 true pairs in parts of 256: 4 parts per half, so 2 and 3 shards split them unevenly.
TRUTH = [
    "algo.hidden_sizes=[16]",
    "probe.true_samples=2048",
    "probe.part_pairs=256",
    "probe.sample_counts=[64,256]",
    "probe.envs_per_worker=4",
]


@pytest.fixture(scope="module")
def sampler():
    with ParallelSampler("Pendulum-v1", None, num_workers=2, envs_per_worker=4) as s:
        yield s


def context(tmp_path, sampler, shards_: int, *overrides: str) -> ProbeContext:
    cfg = make_cfg(*TINY, *TRUTH, f"probe.shards={shards_}", *overrides)
    trainer = Trainer([cfg], [tmp_path / "train"])
    view = trainer.view(0)
    ctx = ProbeContext(
        cfg,
        view.agent,
        view.obs_normalizer,
        view.reward_scaler,
        view.iteration,
        view.num_iterations,
        sampler,
    )
    trainer.close()
    return ctx


def store_for(ctx: ProbeContext, run_dir) -> shards.PartStore:
    return shards.PartStore(
        run_dir, ctx.cfg, ctx.iteration, ctx.agent.policy, done.settings(ctx.cfg.probe)
    )


def draw_all_shards(ctx: ProbeContext, run_dir, probe: str, num_parts: int) -> shards.PartStore:
    """Every shard job's parts of ``probe`` drawn into ``run_dir``, as the shard jobs would."""
    store = store_for(ctx, run_dir)
    num_shards = ctx.cfg.probe.shards
    for shard in range(num_shards):
        shards.draw_shard(store, probe, num_parts, num_shards, shard, PART_DRAWERS[probe](ctx))
    assert not shards.missing_parts(store, probe, num_parts, num_shards, num_shards - 1)
    return store


def sharded_truth(tmp_path, sampler, num_shards: int) -> truth.TrueSample:
    """Each shard drawn into the run directory, then the reduce with no sampler at all: it can
    only read the parts the shards drew."""
    ctx = context(tmp_path, sampler, num_shards)
    store = draw_all_shards(
        ctx, tmp_path / f"run{num_shards}", "gradient", truth_parts(ctx.cfg.probe)
    )
    ctx.parts, ctx.sampler = store, None
    return truth.true_sample(ctx)


def test_sharded_truth_is_the_unsharded_truth_of_the_same_sample(tmp_path, sampler):
    truths = {s: sharded_truth(tmp_path, sampler, s) for s in (1, 2, 3)}
    one = truths[1]
    assert len(one.batch) == 2048 and [len(h) for h in one.halves] == [1024, 1024]
    # the reduced gradient is the unsharded surrogate gradient of the joined sample
    ctx = context(tmp_path, sampler, 1)
    unsharded = surrogate_gradient(ctx.agent.policy, one.batch, ctx.cfg)
    assert torch.allclose(one.gradient, unsharded, rtol=1e-4, atol=1e-7)
    raw = make_cfg(*TINY, *TRUTH, "opt.adv_norm=false")  # advantages as they are, as training would
    assert torch.allclose(
        (one.half_sums[0] + one.half_sums[1]).gradient(adv_norm=False),
        surrogate_gradient(ctx.agent.policy, one.batch, raw),
        rtol=1e-4,
        atol=1e-7,
    )
    for h, half_gradient in zip(one.halves, one.half_gradients):
        expected = surrogate_gradient(ctx.agent.policy, h, ctx.cfg)
        assert torch.allclose(half_gradient, expected, rtol=1e-4, atol=1e-7)
    # two and three shards draw the same pairs and reduce to the same truth
    for s in (2, 3):
        assert torch.equal(truths[s].batch.obs, one.batch.obs)
        assert torch.allclose(truths[s].gradient, one.gradient, rtol=1e-6, atol=1e-9)


def test_shards_split_the_parts_contiguously_and_completely():
    for num_parts, num_shards in ((8, 1), (8, 3), (7, 7)):
        ranges = [shards.shard_parts(num_parts, num_shards, s) for s in range(num_shards)]
        assert [p for r in ranges for p in r] == list(range(num_parts))
        assert max(map(len, ranges)) - min(map(len, ranges)) <= 1


def test_a_part_drawn_for_another_policy_is_not_used(tmp_path, sampler):
    ctx = context(tmp_path, sampler, 2)
    store = store_for(ctx, tmp_path / "run")
    shards.draw_shard(store, "gradient", truth_parts(ctx.cfg.probe), 2, 0, truth.drawer(ctx))
    assert store.load("gradient", 0) is not None
    with torch.no_grad():
        next(ctx.agent.policy.parameters()).add_(0.1)
    assert store_for(ctx, tmp_path / "run").load("gradient", 0) is None


def test_a_part_drawn_under_other_normalizer_statistics_is_not_used(tmp_path, sampler):
    ctx = context(tmp_path, sampler, 2)

    def store(obs_normalizer) -> shards.PartStore:
        return shards.PartStore(
            tmp_path / "run",
            ctx.cfg,
            ctx.iteration,
            ctx.agent.policy,
            done.settings(ctx.cfg.probe),
            (obs_normalizer, ctx.reward_scaler),
        )

    shards.draw_shard(
        store(ctx.obs_normalizer), "gradient", truth_parts(ctx.cfg.probe), 2, 0, truth.drawer(ctx)
    )
    assert store(copy.deepcopy(ctx.obs_normalizer)).load("gradient", 0) is not None
    shifted = copy.deepcopy(ctx.obs_normalizer)
    shifted.stats.mean = shifted.stats.mean + 1.0
    assert store(shifted).load("gradient", 0) is None


def test_every_sharded_probe_has_a_part_drawer():
    assert set(PART_DRAWERS) == set(SHARDED_PROBES)


def refuse(*_args, **_kwargs):
    raise AssertionError("the reduce drew a part that a shard job had drawn")


def same_rows(a: list[dict], b: list[dict]) -> bool:
    return pd.DataFrame(a).equals(pd.DataFrame(b))


# 4096 fit pairs in parts of 1024 (4 parts; the time limit is terminal, so Monte-Carlo returns are
# exact); a 2 x 2 landscape at two sample counts (8 parts).
BASELINES = ["env.timeout_bootstrap=false", "probe.value_fit_samples=4096", "probe.part_pairs=1024"]
LANDSCAPE = [
    "probe.landscape_grid=2",
    "probe.landscape_samples=[200,400]",
    "probe.landscape_step_samples=[256]",
]


def test_sharded_baselines_fit_data_gives_the_unsharded_result(tmp_path, sampler, monkeypatch):
    unsharded = baselines.run(context(tmp_path, sampler, 1, *BASELINES))
    assert any(row["measure"] == "fit_mre" for row in unsharded)
    for num_shards in (1, 2, 3):
        ctx = context(tmp_path, sampler, num_shards, *BASELINES)
        assert fit_parts(ctx.cfg.probe) == 4
        ctx.parts = draw_all_shards(ctx, tmp_path / f"b{num_shards}", "baselines", 4)
        with monkeypatch.context() as m:
            m.setattr(baselines, "draw_fit_part", refuse)
            assert same_rows(baselines.run(ctx), unsharded), num_shards


def test_sharded_landscape_points_give_the_unsharded_result(tmp_path, sampler, monkeypatch):
    unsharded = landscape.run(context(tmp_path, sampler, 1, *LANDSCAPE))
    returns = [row["value"] for row in unsharded if row["measure"] == "return"]
    assert len(returns) == 8 and len(set(returns)) > 1
    for num_shards in (1, 2, 3):
        ctx = context(tmp_path, sampler, num_shards, *LANDSCAPE)
        assert landscape_parts(ctx.cfg.probe) == 8
        ctx.parts = draw_all_shards(ctx, tmp_path / f"l{num_shards}", "landscape", 8)
        with monkeypatch.context() as m:
            m.setattr(landscape.Plane, "draw_point", refuse)
            assert same_rows(landscape.run(ctx), unsharded), num_shards


def test_clearing_one_probes_parts_keeps_the_others(tmp_path, sampler):
    ctx = context(tmp_path, sampler, 2, *BASELINES)
    store = draw_all_shards(ctx, tmp_path / "run", "baselines", 4)
    shards.draw_shard(store, "gradient", truth_parts(ctx.cfg.probe), 2, 0, truth.drawer(ctx))
    store.clear(["gradient"])
    assert store.load("gradient", 0) is None and store.load("baselines", 3) is not None
    store.clear(["baselines"])
    assert not (tmp_path / "run" / shards.SHARDS_DIR).exists()
