"""MuJoCo twins: a twin's batched step equals gymnasium's env.step bit for bit, resets included,
and every env without an exact twin is stepped by gymnasium."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from deep_pg.envs.batch_env import BatchEnv
from deep_pg.envs.mujoco_twins import GymStepper, HumanoidTwin, PlanarTwin, twin_for

MUJOCO_FIELDS = (
    "qpos",
    "qvel",
    "act",
    "ctrl",
    "qacc_warmstart",
    "xipos",
    "cinert",
    "cvel",
    "cfrc_ext",
    "qfrc_actuator",
    "time",
)
TWINNED = [
    f"{task}-{version}"
    for version in ("v4", "v5")
    for task in ("Hopper", "Walker2d", "HalfCheetah", "Humanoid")
]


def _pair(env_id: str, num_envs: int) -> tuple[BatchEnv, BatchEnv]:
    """The same envs twice, the second stepped by gymnasium's own step."""
    twin, reference = (BatchEnv(env_id, num_envs, seed=7) for _ in range(2))
    reference.stepper = GymStepper(reference.obs_dim)
    return twin, reference


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gymnasium warns about v4
@pytest.mark.parametrize("env_id", TWINNED)
def test_twin_steps_equal_gymnasium_bit_for_bit_across_resets(env_id):
    twin, reference = _pair(env_id, num_envs=3)
    assert isinstance(twin.stepper, (PlanarTwin, HumanoidTwin))
    rng = np.random.default_rng(0)
    steps = 400 if env_id.startswith("Humanoid") else 1000
    # Three action scales: gentle (long episodes), full-range and far beyond the bounds (clipped).
    scales = np.array([0.1, 1.0, 3.0])[:, None] * twin.action_high
    ends = 0
    for _ in range(steps):
        actions = rng.standard_normal((3, twin.act_dim)) * scales
        a, b = twin.step(actions), reference.step(actions)
        for field in ("obs", "reward", "terminated", "truncated", "final_obs"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
        assert a.episode_returns == b.episode_returns and a.episode_lengths == b.episode_lengths
        ends += len(a.episode_returns)
    for env_a, env_b in zip(twin.envs, reference.envs):
        for field in MUJOCO_FIELDS:
            assert np.array_equal(getattr(env_a.data, field), getattr(env_b.data, field)), field
    assert ends > 0, "the trajectories must cover resets"


def test_an_env_without_a_twin_is_stepped_by_gymnasium():
    assert isinstance(BatchEnv("Pendulum-v1", 1, seed=0).stepper, GymStepper)
    assert twin_for(gym.make("Hopper-v5", disable_env_checker=True).unwrapped) is not None
    other_layout = gym.make(
        "Hopper-v5", disable_env_checker=True, exclude_current_positions_from_observation=False
    ).unwrapped
    assert twin_for(other_layout) is None
    fewer_parts = gym.make(
        "Humanoid-v5", disable_env_checker=True, include_cfrc_ext_in_observation=False
    ).unwrapped
    assert twin_for(fewer_parts) is None
    rendering = gym.make("Hopper-v5", disable_env_checker=True, render_mode="rgb_array").unwrapped
    assert twin_for(rendering) is None
    base = type(gym.make("Hopper-v5", disable_env_checker=True).unwrapped)
    assert twin_for(type("Custom", (base,), {})()) is None


def test_twin_reads_the_settings_of_its_env():
    """A constructor argument the twin reproduces (reward weights, health ranges) is honoured."""
    kwargs = {
        "ctrl_cost_weight": 0.5,
        "healthy_reward": 3.0,
        "healthy_z_range": (0.9, 2.0),
        "terminate_when_unhealthy": False,
    }
    envs = [gym.make("Hopper-v5", disable_env_checker=True, **kwargs).unwrapped for _ in range(2)]
    for env in envs:
        env.reset(seed=3)
    twin = twin_for(envs[0])
    rng = np.random.default_rng(1)
    for _ in range(300):
        action = rng.uniform(-1, 1, size=(1, 3))
        obs, reward, terminated = twin.step(envs[:1], action)
        expected = envs[1].step(action[0])
        assert np.array_equal(obs[0], expected[0]) and reward[0] == expected[1]
        assert terminated[0] == expected[2] is False
