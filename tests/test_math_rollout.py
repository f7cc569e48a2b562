"""The member sampler against gymnasium stepped by hand: the same observations, actions (policy
mean plus the seeded noise stream times sigma), rewards, time-limit truncations, final
observations and episode returns; and its state round trip."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import make_cfg

from deep_pg.algorithms.agents import initial_agent
from deep_pg.envs.normalization import ObservationNormalizer, RewardScaler
from deep_pg.sampling.rollout import MemberSampler, PolicyArrays

LIMIT, STEPS, ENVS = 30, 70, 2
RAW = [
    "env=pendulum",
    f"env.num_envs={ENVS}",
    f"env.max_episode_steps={LIMIT}",
    "opt.obs_norm=false",
    "opt.reward_scaling=none",
    "seed=3",
    "algo.init_log_std=-0.5",
]


def _policy(cfg):
    policy = initial_agent(cfg, 3, 1).policy
    with torch.no_grad():  # a mean that depends on the state, so actions pin the observations
        for p in policy.mean.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return policy


def _gymnasium_replay(cfg, actions):
    """Pendulum stepped by hand with ``actions`` (clipped to [-2, 2]), reset at the time limit:
    per step the observation acted on, the reward, the observation the step ended in and
    whether the episode was cut there."""
    envs = [gym.make("Pendulum-v1").unwrapped for _ in range(ENVS)]
    obs = np.stack([env.reset(seed=cfg.seed + i)[0] for i, env in enumerate(envs)])
    seen, rewards, finals, cut = [], [], [], []
    for t in range(len(actions)):
        seen.append(obs.copy())
        step = [env.step(np.clip(actions[t, i], -2.0, 2.0)) for i, env in enumerate(envs)]
        rewards.append([s[1] for s in step])
        finals.append(np.stack([s[0] for s in step]))
        cut.append(np.full(ENVS, (t + 1) % LIMIT == 0))
        obs = np.stack(
            [env.reset()[0] if cut[-1][i] else finals[-1][i] for i, env in enumerate(envs)]
        )
    return np.array(seen), np.array(rewards), np.array(finals), np.array(cut), obs


def test_collect_is_gymnasium_stepped_with_the_policy_and_its_noise():
    cfg = make_cfg(*RAW)
    policy = _policy(cfg)
    sampler = MemberSampler(cfg)
    try:
        rollout = sampler.collect(PolicyArrays.of(policy, "tanh"), STEPS)
    finally:
        sampler.close()
    obs, rewards, finals, cut, _ = _gymnasium_replay(cfg, rollout.actions)
    np.testing.assert_allclose(rollout.obs, obs, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        mean = policy(torch.from_numpy(obs.astype(np.float32))).double().numpy()
    noise = torch.randn((STEPS, ENVS, 1), generator=torch.Generator().manual_seed(cfg.seed))
    np.testing.assert_allclose(
        rollout.actions, mean + np.exp(-0.5) * noise.numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(rollout.rewards, rewards, rtol=1e-5)
    np.testing.assert_allclose(rollout.final_obs, finals, rtol=1e-6, atol=1e-6)
    assert np.array_equal(rollout.truncated, cut) and not rollout.terminated.any()
    assert rollout.truncated.sum() == ENVS * (STEPS // LIMIT)
    returns = [
        rewards[t - LIMIT + 1 : t + 1, i].sum() for t, i in zip(*np.nonzero(cut), strict=True)
    ]
    assert rollout.episode_returns == pytest.approx(returns, rel=1e-5)
    assert rollout.episode_lengths == [LIMIT] * len(returns)
    assert rollout.num_steps == STEPS * ENVS
    # float32 throughout: what the networks take, and half the bytes a worker sends back
    for name in ("obs", "actions", "rewards", "final_obs"):
        assert getattr(rollout, name).dtype == np.float32, name


def test_collect_normalizes_observations_and_scales_rewards_on_the_way():
    """Observations are standardized as they arrive (the final observation of a cut episode
    without entering the statistics), rewards scaled with the episode ends: a fresh normalizer
    and scaler fed the raw stream in that order give the same rollout."""
    cfg = make_cfg(
        *RAW,
        "opt.obs_norm=true",
        "opt.obs_clip=3.0",
        "opt.reward_scaling=returns",
        "opt.reward_clip=null",
        "algo.gamma=0.9",
    )
    sampler = MemberSampler(cfg)
    try:
        rollout = sampler.collect(PolicyArrays.of(_policy(cfg), "tanh"), STEPS)
        frozen_obs, frozen_rewards = sampler.normalizers()
    finally:
        sampler.close()
    obs, rewards, finals, cut, last = _gymnasium_replay(cfg, rollout.actions)
    normalizer = ObservationNormalizer(3, normalize=True, clip=3.0)
    scaler = RewardScaler(ENVS, gamma=0.9, mode="returns", clip=None)
    current = normalizer(obs[0])
    for t in range(STEPS):
        np.testing.assert_allclose(rollout.obs[t], current, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(rollout.rewards[t], scaler(rewards[t], cut[t]), rtol=1e-5)
        nxt = obs[t + 1] if t + 1 < STEPS else last
        current = normalizer(nxt)
        expected_final = current.copy()
        if cut[t].any():
            expected_final[cut[t]] = normalizer.transform(finals[t][cut[t]])
        np.testing.assert_allclose(rollout.final_obs[t], expected_final, rtol=1e-5, atol=1e-5)
    assert np.abs(rollout.obs).max() <= 3.0
    # The probes' copies hold the statistics reached, frozen.
    assert not frozen_obs.update_stats and not frozen_rewards.update_stats
    np.testing.assert_allclose(frozen_obs.stats.mean, normalizer.stats.mean)
    assert frozen_obs.stats.count == pytest.approx(1e-4 + ENVS * (STEPS + 1))
    assert frozen_rewards.stats.count == pytest.approx(scaler.stats.count)


def test_sampler_state_round_trip_continues_identically():
    cfg = make_cfg(*RAW, "opt.obs_norm=true", "opt.reward_scaling=returns")
    arrays = PolicyArrays.of(_policy(cfg), "tanh")
    first, second = MemberSampler(cfg), MemberSampler(cfg.copy())
    try:
        first.collect(arrays, 45)
        second.load_state_dict(first.state_dict())
        a, b = first.collect(arrays, 25), second.collect(arrays, 25)
    finally:
        first.close()
        second.close()
    for name in ("obs", "actions", "rewards", "terminated", "truncated", "final_obs"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.episode_returns == b.episode_returns and a.episode_returns
