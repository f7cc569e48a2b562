"""The observation normalizer and the running statistics behind it, on inputs far from zero and
far outside the clip, against numpy's mean and variance of the same stream."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_cfg

from deep_pg.envs.normalization import (
    ObservationNormalizer,
    RewardScaler,
    RunningMeanStd,
    build_normalizers,
    inactive_clips,
)


def pooled_moments(stream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``stream`` pooled with RunningMeanStd's prior: a pseudo-sample of
    weight c = 1e-4 with mean 0 and variance 1."""
    c, n = 1e-4, len(stream)
    mean = stream.sum(0) / (n + c)
    return mean, (c * 1.0 + (stream**2).sum(0)) / (n + c) - mean**2


def test_running_mean_std_equals_the_moments_of_the_whole_stream():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(loc=[3.0, -50.0], scale=[2.0, 0.5], size=(n, 2)) for n in (1, 7, 1, 40, 3)]
    stats = RunningMeanStd((2,))
    for chunk in chunks:
        stats.update(chunk)
    stream = np.concatenate(chunks)
    mean, var = pooled_moments(stream)
    assert stats.count == pytest.approx(len(stream) + 1e-4, rel=1e-12)
    assert stats.mean == pytest.approx(mean, rel=1e-9)
    assert stats.var == pytest.approx(var, rel=1e-9)
    assert stats.std == pytest.approx(np.sqrt(var), rel=1e-9)


def test_running_mean_std_state_round_trips():
    stats = RunningMeanStd((2,))
    stats.update(np.array([[1.0, 2.0], [3.0, 5.0]]))
    twin = RunningMeanStd((2,))
    twin.load_state_dict(stats.state_dict())
    assert np.array_equal(twin.mean, stats.mean) and np.array_equal(twin.var, stats.var)
    assert twin.count == stats.count


def test_observations_far_outside_the_clip_come_out_standardized_not_collapsed():
    """Raw observations with mean 100 and std 1, clip 5: the clip bounds the *standardized*
    values, so they come out roughly standard normal. Clipping raw values first would map
    every observation to 5 and standardize them to a constant."""
    rng = np.random.default_rng(0)
    normalizer = ObservationNormalizer(3, normalize=True, clip=5.0)
    for _ in range(30):
        normalizer(rng.normal(100.0, 1.0, size=(64, 3)))
    out = normalizer.transform(rng.normal(100.0, 1.0, size=(2000, 3)))
    assert np.abs(out.mean(0)).max() < 0.1
    assert out.std(0) == pytest.approx([1.0, 1.0, 1.0], abs=0.1)
    # An outlier 10 standard deviations out is clipped at 5, on either side.
    extreme = normalizer.transform(np.array([[110.0, 90.0, 100.0]]))
    assert extreme[0, :2] == pytest.approx([5.0, -5.0])
    assert abs(extreme[0, 2]) < 0.2


def test_first_batch_is_standardized_with_its_own_statistics():
    obs = np.array([[100.0, -4.0], [102.0, -2.0], [104.0, 0.0]])
    out = ObservationNormalizer(2, normalize=True, clip=10.0)(obs)
    mean, var = pooled_moments(obs)
    assert out == pytest.approx((obs - mean) / np.sqrt(var), rel=1e-6)
    assert np.abs(out).max() > 1.0  # standardized with the batch's own spread, not collapsed


def test_frozen_and_transform_do_not_update_the_statistics():
    rng = np.random.default_rng(1)
    normalizer = ObservationNormalizer(2, normalize=True, clip=None)
    normalizer(rng.normal(10.0, 2.0, size=(50, 2)))
    before = normalizer.state_dict()["stats"]
    frozen = normalizer.frozen()
    x = np.array([[1000.0, -1000.0]])
    out = frozen(x)
    assert out == pytest.approx((x - before["mean"]) / before["var"] ** 0.5, rel=1e-6)
    assert abs(out).max() > 100  # clip=None: nothing bounds it
    normalizer.transform(x)
    after = normalizer.state_dict()["stats"]
    assert np.array_equal(after["mean"], before["mean"]) and after["count"] == before["count"]
    assert normalizer.update_stats  # transform restores the updating mode
    normalizer(x)
    assert normalizer.stats.count == before["count"] + 1


def test_without_obs_norm_observations_pass_untouched_and_the_clip_is_inactive():
    normalizer = ObservationNormalizer(2, normalize=False, clip=5.0)
    x = np.array([[100.0, -100.0]])
    assert np.array_equal(normalizer(x), x)
    assert normalizer.stats.count == pytest.approx(1e-4)


def test_build_normalizers_reads_the_opt_toggles_and_names_inactive_clips():
    cfg = make_cfg(
        "env=pendulum",
        "opt.obs_norm=false",
        "opt.obs_clip=3.0",
        "opt.reward_scaling=none",
        "opt.reward_clip=2.0",
        "algo.gamma=0.9",
    )
    obs_norm, scaler = build_normalizers(cfg, 3)
    assert not obs_norm.normalize and obs_norm.clip is None
    assert scaler.mode == "none" and scaler.clip is None and scaler.gamma == pytest.approx(0.9)
    messages = inactive_clips(cfg.opt)
    assert len(messages) == 2  # each names the clip and the toggle that leaves it nothing to do
    assert "opt.obs_clip=3.0" in messages[0] and "opt.obs_norm=false" in messages[0]
    assert "opt.reward_clip=2.0" in messages[1] and "opt.reward_scaling=none" in messages[1]
    on = make_cfg("env=pendulum", "opt=all")
    obs_norm, scaler = build_normalizers(on, 3)
    assert obs_norm.normalize and obs_norm.clip == on.opt.obs_clip
    assert scaler.mode == "returns" and scaler.clip == on.opt.reward_clip
    assert inactive_clips(on.opt) == []


def test_reward_scaling_by_returns_divides_by_the_std_of_discounted_returns():
    rewards = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0], [2.0, 2.0]])
    ends = np.array([[False, False], [False, True], [False, False], [True, False]])
    scaler = RewardScaler(2, gamma=0.9, mode="returns", clip=None)
    running, seen = np.zeros(2), []
    for r, end in zip(rewards, ends, strict=True):
        running = running * 0.9 + r
        seen.extend(running)
        scaled = scaler(r, end)
        running[end] = 0.0
        assert scaled == pytest.approx(r / np.std(seen), rel=1e-3)


def test_reward_scaling_by_rewards_scales_the_spread_around_the_running_mean():
    rewards = np.array([[1.0, 3.0], [5.0, -1.0], [2.0, 2.0]])
    scaler = RewardScaler(2, gamma=0.99, mode="rewards", clip=1.5)
    seen = []
    for r in rewards:
        seen.extend(r)
        mean, std = np.mean(seen), np.std(seen)
        assert scaler(r, np.zeros(2, bool)) == pytest.approx(
            np.clip((r - mean) / std + mean, -1.5, 1.5), rel=1e-3
        )


def test_frozen_copies_keep_the_statistics_they_were_made_with():
    rng = np.random.default_rng(2)
    normalizer = ObservationNormalizer(2, normalize=True, clip=None)
    scaler = RewardScaler(2, gamma=0.9, mode="returns", clip=None)
    normalizer(rng.normal(5.0, 2.0, size=(20, 2)))
    scaler(np.array([1.0, 2.0]), np.array([False, False]))
    frozen_obs, frozen_rewards = normalizer.frozen(), scaler.frozen()
    obs_state, reward_state = frozen_obs.state_dict(), frozen_rewards.state_dict()
    assert not frozen_obs.update_stats and not frozen_rewards.update_stats
    # The originals keep learning; the frozen copies do not follow, even when they are used.
    normalizer(rng.normal(-50.0, 9.0, size=(20, 2)))
    scaler(np.array([30.0, -7.0]), np.array([False, True]))
    frozen_obs(np.ones((3, 2)))
    frozen_rewards(np.array([1.0, 1.0]), np.array([False, False]))
    for before, after in (
        (obs_state, frozen_obs.state_dict()),
        (reward_state, frozen_rewards.state_dict()),
    ):
        assert np.array_equal(before["stats"]["mean"], after["stats"]["mean"])
        assert before["stats"]["count"] == after["stats"]["count"]
    assert np.array_equal(reward_state["running_return"], frozen_rewards.running_return)
    assert normalizer.stats.count > frozen_obs.stats.count
