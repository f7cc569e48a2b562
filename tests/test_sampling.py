"""deep_pg.sampling: the probes' parallel sampler keeps training's semantics and its own streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deep_pg.envs.normalization import ObservationNormalizer, RewardScaler
from deep_pg.networks import GaussianPolicy
from deep_pg.sampling import ParallelSampler, SamplerError


@pytest.fixture(scope="module")
def sampler():
    with ParallelSampler(
        "Pendulum-v1", None, num_workers=2, envs_per_worker=3, chunk_steps=64
    ) as s:
        yield s


def normalizers(obs_dim: int):
    obs_norm = ObservationNormalizer(obs_dim, normalize=True, clip=5.0)
    obs_norm(np.random.default_rng(0).normal(2.0, 3.0, size=(100, obs_dim)))  # some statistics
    scaler = RewardScaler(1, 0.99, mode="returns", clip=None)
    scaler(np.array([4.0]), np.array([False]))
    scaler(np.array([-2.0]), np.array([False]))
    return obs_norm, scaler


def test_streams_are_reproducible_independent_and_use_frozen_normalizers(sampler):
    torch.manual_seed(0)
    policy = GaussianPolicy(sampler.obs_dim, sampler.act_dim, [16], "tanh", ortho_init=True)
    obs_norm, scaler = normalizers(sampler.obs_dim)
    obs_stats, scale_stats = obs_norm.state_dict(), scaler.state_dict()
    sampler.set_policy(policy, obs_norm, scaler)
    a = sampler.streams(5, 150, seed=7, gamma=0.99)  # 5 streams over 2 workers, 3 chunks
    b = sampler.streams(5, 150, seed=7, gamma=0.99)
    c = sampler.streams(5, 150, seed=8, gamma=0.99)
    assert a.rollout.obs.shape == (150, 5, 3) and a.rollout.actions.shape == (150, 5, 1)
    assert np.array_equal(a.rollout.obs, b.rollout.obs) and np.array_equal(
        a.rollout.actions, b.rollout.actions
    )
    assert not np.allclose(a.rollout.obs, c.rollout.obs)
    assert not np.allclose(a.rollout.obs[:, 0], a.rollout.obs[:, 1])  # streams differ
    # rewards are scaled by the frozen scaler; observations normalized (clip 5) with frozen stats
    assert np.allclose(a.rollout.rewards, a.raw_rewards / (scaler.stats.std + 1e-8), rtol=1e-5)
    assert np.abs(a.rollout.obs).max() <= 5.0
    assert np.array_equal(obs_norm.state_dict()["stats"]["mean"], obs_stats["stats"]["mean"])
    assert scaler.state_dict()["stats"]["count"] == scale_stats["stats"]["count"]


def test_streams_truncate_at_the_time_limit_and_keep_the_final_observation(sampler):
    policy = GaussianPolicy(sampler.obs_dim, sampler.act_dim, [16], "tanh", ortho_init=True)
    sampler.set_policy(policy, *normalizers(sampler.obs_dim))
    data = sampler.streams(2, 450, seed=0, gamma=0.99).rollout
    for i in range(2):
        ends = np.flatnonzero(data.truncated[:, i])
        assert len(ends) >= 2 and np.all(np.diff(ends) == 200)  # Pendulum-v1's limit
        # phase-randomized: a stream does not start right after a reset
        t = ends[0]
        assert not np.allclose(data.final_obs[t, i], data.obs[t + 1, i])
        assert np.allclose(data.final_obs[t - 1, i], data.obs[t, i])
    assert not data.terminated.any()


def test_episodes_are_complete_and_cover_the_budget(sampler):
    policy = GaussianPolicy(sampler.obs_dim, sampler.act_dim, [16], "tanh", ortho_init=True)
    sampler.set_policy(policy, *normalizers(sampler.obs_dim))
    stats = sampler.episodes(1000, seed=3, gamma=0.9)
    assert stats.num_pairs >= 1000 and np.all(stats.lengths == 200)
    assert stats.num_pairs == stats.lengths.sum()
    assert np.all(stats.returns <= 0) and np.all(stats.discounted_returns >= stats.returns)
    again = sampler.episodes(1000, seed=3, gamma=0.9)
    assert np.array_equal(stats.returns, again.returns)


def test_worker_errors_reach_the_caller():
    with ParallelSampler("Pendulum-v1", None, num_workers=1, envs_per_worker=2) as sampler:
        wrong = GaussianPolicy(7, sampler.act_dim, [4], "tanh", ortho_init=True)  # obs_dim is 3
        sampler.set_policy(wrong, *normalizers(sampler.obs_dim))
        with pytest.raises(SamplerError, match="worker 0 failed"):
            sampler.streams(1, 10, seed=0, gamma=0.99)
        with pytest.raises(ValueError, match="1..2"):
            sampler.streams(3, 10, seed=0, gamma=0.99)
