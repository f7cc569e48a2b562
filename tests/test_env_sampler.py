"""Environments, sampling and advantages: truncation vs termination handled explicitly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY, make_cfg

from deep_pg.algorithms.batch import gae, make_batch
from deep_pg.algorithms.metrics import trust_region_metrics
from deep_pg.envs.batch_env import BatchEnv
from deep_pg.experience import Rollout
from deep_pg.networks import GaussianPolicy
from deep_pg.trainer import Trainer


def test_time_limit_truncates_and_resets_in_the_same_step():
    env = BatchEnv("Pendulum-v1", num_envs=2, seed=0, max_episode_steps=5)
    actions = np.zeros((2, 1))
    for _ in range(4):
        step = env.step(actions)
        assert not step.truncated.any() and not step.terminated.any()
        assert np.array_equal(step.final_obs, step.obs)
    step = env.step(actions)
    assert step.truncated.all() and not step.terminated.any()
    assert step.episode_lengths == [5, 5] and len(step.episode_returns) == 2
    # the returned obs is the first of a new episode; the one the episode ended in is kept apart
    assert not np.allclose(step.final_obs, step.obs)
    assert env.elapsed.tolist() == [0, 0]


def test_termination_is_not_truncation_on_hopper():
    env = BatchEnv("Hopper-v5", num_envs=1, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(1000):
        step = env.step(rng.uniform(-1, 1, size=(1, 3)))
        if step.terminated[0]:
            assert not step.truncated[0] and step.episode_lengths[0] < 1000
            return
    pytest.fail("a random Hopper policy should fall within 1000 steps")


def test_actions_are_clipped_to_the_action_space():
    env = BatchEnv("Pendulum-v1", num_envs=1, seed=0)
    twin = BatchEnv("Pendulum-v1", num_envs=1, seed=0)
    a = env.step(np.array([[100.0]]))
    b = twin.step(np.array([[2.0]]))  # Pendulum's bound
    assert np.array_equal(a.obs, b.obs) and np.array_equal(a.reward, b.reward)


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Humanoid-v5", "Pendulum-v1"])
def test_env_state_round_trip_continues_identically(env_id):
    env = BatchEnv(env_id, num_envs=2, seed=3)
    rng = np.random.default_rng(0)
    act = lambda: rng.uniform(-1, 1, size=(2, env.act_dim))
    for _ in range(30):
        env.step(act())
    state = env.state_dict()
    actions = [act() for _ in range(60)]
    first = [env.step(a) for a in actions]
    other = BatchEnv(env_id, num_envs=2, seed=99)
    other.load_state_dict(state)
    second = [other.step(a) for a in actions]
    for field in ("obs", "reward", "terminated"):  # Humanoid's reward reads derived body data
        assert np.array_equal(
            np.stack([getattr(s, field) for s in first]),
            np.stack([getattr(s, field) for s in second]),
        )


def test_gae_matches_hand_computation_and_cuts_at_episode_ends():
    gamma, lam = 0.9, 0.5
    rewards = np.array([[1.0], [2.0], [3.0]], dtype=np.float32)
    values = np.array([[0.5], [1.0], [1.5]], dtype=np.float32)
    next_values = np.array([[1.0], [7.0], [2.0]], dtype=np.float32)  # step 1 ended an episode
    bootstrap = np.ones((3, 1), dtype=np.float32)
    end = np.array([[0.0], [1.0], [0.0]], dtype=np.float32)
    adv = gae(rewards, values, next_values, bootstrap, end, gamma, lam)
    d2 = 3.0 + 0.9 * 2.0 - 1.5
    d1 = 2.0 + 0.9 * 7.0 - 1.0  # truncated: bootstraps from V(final obs) = 7, no carry-over
    d0 = 1.0 + 0.9 * 1.0 - 0.5
    assert adv[:, 0] == pytest.approx([d0 + 0.45 * d1, d1, d2])


def _rollout_with_truncation():
    obs = np.zeros((2, 1, 1), dtype=np.float32)
    final = np.array([[[1.0]], [[2.0]]], dtype=np.float32)
    return Rollout(
        obs=obs,
        actions=np.zeros((2, 1, 1), dtype=np.float32),
        rewards=np.array([[1.0], [1.0]], dtype=np.float32),
        terminated=np.array([[False], [False]]),
        truncated=np.array([[True], [False]]),
        final_obs=final,
    )


class LinearValue(torch.nn.Module):
    def forward(self, obs):
        return 10.0 * obs[:, 0]


@pytest.mark.parametrize("bootstrap", [True, False])
def test_timeout_bootstrap_toggle(bootstrap):
    policy = GaussianPolicy(1, 1, [4], "tanh", True)
    batch = make_batch(
        _rollout_with_truncation(),
        policy,
        LinearValue(),
        0.5,
        1.0,
        timeout_bootstrap=bootstrap,
        baseline="value",
    )
    # step 0 was truncated with V(final obs) = 10: bootstrapped (1 + 0.5 * 10) or terminal (1)
    assert batch.advantages[0].item() == pytest.approx(6.0 if bootstrap else 1.0)
    assert batch.advantages[1].item() == pytest.approx(1.0 + 0.5 * 20.0)


def test_zero_baseline_uses_discounted_returns():
    policy = GaussianPolicy(1, 1, [4], "tanh", True)
    rollout = _rollout_with_truncation()
    rollout.truncated[:] = False  # one episode segment of two steps, cut by the rollout end
    batch = make_batch(rollout, policy, LinearValue(), 0.5, 0.95, True, baseline="zero")
    assert batch.advantages.tolist() == pytest.approx([1.0 + 0.5 * 1.0, 1.0])
    # value targets stay the GAE targets of the value net
    assert batch.returns[1].item() == pytest.approx(1.0 + 0.5 * 20.0)


def test_trust_region_metrics_of_identical_policies():
    trainer = Trainer([make_cfg(*TINY), make_cfg(*TINY, "seed=1")], ["/nonexistent"] * 2)
    _, batch = trainer.collect()
    trainer.close()
    metrics = trust_region_metrics(trainer.agent.policy, batch, clip_eps=torch.tensor([0.2, 0.2]))
    assert metrics["mean_kl"].tolist() == pytest.approx([0.0, 0.0], abs=1e-7)
    assert metrics["max_ratio"].tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert metrics["clip_frac"].tolist() == [0.0, 0.0]
