"""N gymnasium environments stepped in lockstep, with explicit termination/truncation.

We do not use gymnasium's VectorEnv: in gymnasium 1.x its default autoreset happens on the *next*
step (the action passed then is silently ignored), and its wrappers cost as much per step as the
physics. Here each environment is the bare (unwrapped) env; the time limit is counted here, an
episode that ends is reset in the same step, and the observation it ended in is returned as
``final_obs`` so the sampler can bootstrap a truncated episode from it.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from deep_pg.envs.arrays import clip


@dataclass
class StepResult:
    obs: np.ndarray  # (N, obs_dim) observation to act on next (after any reset)
    reward: np.ndarray  # (N,) raw environment reward
    terminated: np.ndarray  # (N,) bool: the MDP reached a terminal state
    truncated: np.ndarray  # (N,) bool: the time limit cut the episode
    final_obs: np.ndarray  # (N, obs_dim) observation the step ended in (before any reset)
    episode_returns: list[float]  # raw returns of the episodes that ended in this step
    episode_lengths: list[int]


def make_env(env_id: str) -> gym.Env:
    """The bare environment, without gymnasium's checker, order and time-limit wrappers."""
    try:
        env = gym.make(env_id, disable_env_checker=True)
    except gym.error.Error as err:  # unknown id, missing dependency
        raise ValueError(f"gymnasium cannot make it: {err}") from err
    return env


class EnvSet:
    """``num_envs`` bare copies of one environment, with the time limit and action bounds that
    the gymnasium wrappers would otherwise have enforced."""

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None = None):
        wrapped = [make_env(env_id) for _ in range(num_envs)]
        self.max_episode_steps = max_episode_steps or wrapped[0].spec.max_episode_steps
        if not self.max_episode_steps:
            raise ValueError(f"env '{env_id}' has no time limit: set env.max_episode_steps")
        self.envs = [w.unwrapped for w in wrapped]
        space = self.envs[0].action_space
        self.action_low = space.low.astype(np.float64)
        self.action_high = space.high.astype(np.float64)
        self.num_envs = num_envs
        self.obs_dim = int(np.prod(self.envs[0].observation_space.shape))
        self.act_dim = int(np.prod(space.shape))
        self.elapsed = np.zeros(num_envs, dtype=np.int64)
        self.episode_return = np.zeros(num_envs)

    def clip_actions(self, actions: np.ndarray) -> np.ndarray:
        return clip(actions, self.action_low, self.action_high)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class BatchEnv(EnvSet):
    """Steps ``num_envs`` copies of one environment; env ``i`` is first reset with ``seed + i``."""

    def __init__(self, env_id: str, num_envs: int, seed: int, max_episode_steps: int | None = None):
        super().__init__(env_id, num_envs, max_episode_steps)
        self.obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)])

    def step(self, actions: np.ndarray) -> StepResult:
        """Step every env with its action, clipped to the action space; reset those that end."""
        actions = self.clip_actions(actions)
        n = self.num_envs
        reward = np.empty(n)
        terminated = np.zeros(n, dtype=bool)
        next_obs = np.empty((n, self.obs_dim))
        for i, env in enumerate(self.envs):
            next_obs[i], reward[i], terminated[i], _, _ = env.step(actions[i])
        self.elapsed += 1
        self.episode_return += reward
        truncated = (self.elapsed >= self.max_episode_steps) & ~terminated
        final_obs = next_obs.copy()
        returns, lengths = [], []
        for i in np.flatnonzero(terminated | truncated):
            returns.append(float(self.episode_return[i]))
            lengths.append(int(self.elapsed[i]))
            next_obs[i] = self.envs[i].reset()[0]
            self.elapsed[i] = 0
            self.episode_return[i] = 0.0
        self.obs = next_obs
        return StepResult(next_obs, reward, terminated, truncated, final_obs, returns, lengths)

    def restart(self, which: np.ndarray) -> None:
        """Reset the envs marked in ``which`` in the middle of their episodes, which are dropped
        unfinished (env.reset_each_iteration: the released code reset every env per iteration)."""
        for i in np.flatnonzero(which):
            self.obs[i] = self.envs[i].reset()[0]
            self.elapsed[i] = 0
            self.episode_return[i] = 0.0

    # --- exact save/restore, so a resumed run continues the same trajectories -------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "envs": [_env_state(env) for env in self.envs],
            "elapsed": self.elapsed.copy(),
            "episode_return": self.episode_return.copy(),
            "obs": self.obs.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["envs"]) != self.num_envs:
            raise ValueError(f"checkpoint holds {len(state['envs'])} envs, config has {self.num_envs}")
        self.envs = [_set_env_state(env, s) for env, s in zip(self.envs, state["envs"])]
        self.elapsed = state["elapsed"].copy()
        self.episode_return = state["episode_return"].copy()
        self.obs = state["obs"].copy()

def _env_state(env: gym.Env) -> dict[str, Any]:
    rng_state = env.np_random.bit_generator.state
    if hasattr(env, "model") and hasattr(env, "data"):
        # The whole MjData, not just the integration state: rewards such as Humanoid's read
        # derived quantities (body positions) that mj_step leaves one substep stale, and
        # recomputing them on restore would change the next reward in the last digits.
        return {"kind": "mujoco", "data": pickle.dumps(env.data), "rng": rng_state}
    return {"kind": "pickle", "env": pickle.dumps(env), "rng": rng_state}


def _set_env_state(env: gym.Env, state: dict[str, Any]) -> gym.Env:
    if state["kind"] == "mujoco":
        import mujoco

        mujoco.mj_copyData(env.data, env.model, pickle.loads(state["data"]))
    else:
        env = pickle.loads(state["env"])
    env.np_random.bit_generator.state = state["rng"]
    return env
