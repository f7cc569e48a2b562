"""Sharded "true" samples (deep_pg/probes/shards.py): any number of shard jobs draws the same
sample, and the truth reduced from their parts is the unsharded truth of that sample."""
from __future__ import annotations

import pytest
import torch

from conftest import TINY, make_cfg
from deep_pg.probes import done, gradient, shards
from deep_pg.probes.context import ProbeContext
from deep_pg.probes.surrogate import surrogate_gradient
from deep_pg.sampling import ParallelSampler
from deep_pg.trainer import Trainer

# 2048 true pairs in parts of 256: 4 parts per half, so 2 and 3 shards split them unevenly.
TRUTH = ["algo.hidden_sizes=[16]", "probe.true_samples=2048", "probe.part_pairs=256",
         "probe.sample_counts=[64,256]", "probe.envs_per_worker=4"]


@pytest.fixture(scope="module")
def sampler():
    with ParallelSampler("Pendulum-v1", None, num_workers=2, envs_per_worker=4) as s:
        yield s


def context(tmp_path, sampler, shards_: int) -> ProbeContext:
    cfg = make_cfg(*TINY, *TRUTH, f"probe.shards={shards_}")
    trainer = Trainer([cfg], [tmp_path / "train"])
    view = trainer.view(0)
    ctx = ProbeContext(cfg, view.agent, view.obs_normalizer, view.reward_scaler, view.iteration,
                       view.num_iterations, sampler)
    trainer.close()
    return ctx


def sharded_truth(tmp_path, sampler, num_shards: int) -> gradient.TrueSample:
    """Each shard drawn into the run directory, then the reduce with no sampler at all: it can
    only read the parts the shards drew."""
    ctx = context(tmp_path, sampler, num_shards)
    store = shards.PartStore(tmp_path / f"run{num_shards}", ctx.cfg, ctx.iteration,
                             ctx.agent.policy, done.settings(ctx.cfg.probe))
    for shard in range(num_shards):
        shards.draw_shard(ctx, gradient.TRUTH, store, shard)
    ctx.parts, ctx.sampler = store, None
    return gradient.true_sample(ctx, gradient.TRUTH)


def test_sharded_truth_is_the_unsharded_truth_of_the_same_sample(tmp_path, sampler):
    truths = {s: sharded_truth(tmp_path, sampler, s) for s in (1, 2, 3)}
    one = truths[1]
    assert len(one.batch) == 2048 and [len(h) for h in one.halves] == [1024, 1024]
    # the reduced gradient is the unsharded surrogate gradient of the joined sample
    ctx = context(tmp_path, sampler, 1)
    unsharded = surrogate_gradient(ctx.agent.policy, one.batch, ctx.cfg)
    assert torch.allclose(one.gradient, unsharded, rtol=1e-4, atol=1e-7)
    raw = make_cfg(*TINY, *TRUTH, "opt.adv_norm=false")  # advantages as they are, as training would
    assert torch.allclose((one.half_sums[0] + one.half_sums[1]).gradient(adv_norm=False),
                          surrogate_gradient(ctx.agent.policy, one.batch, raw), rtol=1e-4, atol=1e-7)
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
    store = shards.PartStore(tmp_path / "run", ctx.cfg, ctx.iteration, ctx.agent.policy,
                             done.settings(ctx.cfg.probe))
    shards.draw_shard(ctx, gradient.TRUTH, store, 0)
    assert store.load(gradient.TRUTH, 0) is not None
    with torch.no_grad():
        next(ctx.agent.policy.parameters()).add_(0.1)
    moved = shards.PartStore(tmp_path / "run", ctx.cfg, ctx.iteration, ctx.agent.policy,
                             done.settings(ctx.cfg.probe))
    assert moved.load(gradient.TRUTH, 0) is None
