"""N gymnasium environments stepped in lockstep, with explicit termination/truncation.

We do not use gymnasium's VectorEnv: in gymnasium 1.x its default autoreset happens on the *next*
step (the action passed then is silently ignored), and its wrappers cost as much per step as the
physics. Here each environment is the bare (unwrapped) env; the time limit is counted here, an
episode that ends is reset in the same step, and the observation it ended in is returned as
``final_obs`` so the sampler can bootstrap a truncated episode from it.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np

from deep_pg.envs.arrays import clip
from deep_pg.envs.mujoco_twins import stepper_for


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
    the gymnasium wrappers would otherwise have enforced, stepped by their MuJoCo twin where one
    reproduces them exactly (``deep_pg.envs.mujoco_twins``) and by gymnasium otherwise."""

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None = None):
        wrapped = [make_env(env_id) for _ in range(num_envs)]
        spec = wrapped[0].spec  # gymnasium.make always sets it
        max_episode_steps = max_episode_steps or (spec.max_episode_steps if spec else None)
        if not max_episode_steps:
            raise ValueError(f"env '{env_id}' has no time limit: set env.max_episode_steps")
        self._adopt([w.unwrapped for w in wrapped], max_episode_steps)

    def _adopt(self, envs: list[gym.Env], max_episode_steps: int) -> None:
        self.envs, self.max_episode_steps = envs, max_episode_steps
        space = cast(gym.spaces.Box, self.envs[0].action_space)  # continuous control
        self.action_low = space.low.astype(np.float64)
        self.action_high = space.high.astype(np.float64)
        self.num_envs = len(envs)
        self.obs_dim = int(np.prod(cast(gym.spaces.Box, self.envs[0].observation_space).shape))
        self.act_dim = int(np.prod(space.shape))
        self.stepper = stepper_for(self.envs, self.obs_dim)
        self.elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self.episode_return = np.zeros(self.num_envs)

    def clip_actions(self, actions: np.ndarray) -> np.ndarray:
        return clip(actions, self.action_low, self.action_high)

    def end_step(
        self, rows: np.ndarray, next_obs: np.ndarray, reward: np.ndarray, terminated: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, float, int]]]:
        """The stepping rule, written once for training's ``BatchEnv`` and the probes'
        ``EnvGroup``, after the envs ``rows`` (indices) stepped to ``next_obs``: the step counts
        against the time limit (``truncated``: the limit cut an episode that did not terminate),
        its reward joins the episode's raw return, and an env whose episode ended is reset in this
        same step, its row of ``next_obs`` (changed in place) becoming the reset observation.
        Returns truncated, final_obs (the observations the step ended in, before any reset) and,
        for each episode that ended, (its position in ``rows``, its return, its length)."""
        self.elapsed[rows] += 1
        self.episode_return[rows] += reward
        truncated = (self.elapsed[rows] >= self.max_episode_steps) & ~terminated
        final_obs = next_obs.copy()
        ended = []
        for k in np.flatnonzero(terminated | truncated):
            i = rows[k]
            ended.append((int(k), float(self.episode_return[i]), int(self.elapsed[i])))
            next_obs[k] = self.envs[i].reset()[0]
            self.elapsed[i] = 0
            self.episode_return[i] = 0.0
        return truncated, final_obs, ended

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
        next_obs, reward, terminated = self.stepper.step(self.envs, self.clip_actions(actions))
        rows = np.arange(self.num_envs)
        truncated, final_obs, ended = self.end_step(rows, next_obs, reward, terminated)
        self.obs = next_obs
        returns, lengths = [r for _, r, _ in ended], [n for _, _, n in ended]
        return StepResult(next_obs, reward, terminated, truncated, final_obs, returns, lengths)

    @classmethod
    def joined(cls, parts: Sequence[BatchEnv]) -> BatchEnv:
        """One BatchEnv over the envs of ``parts`` (same id and time limit), stepped as one batch;
        ``split`` hands the episode counters and observations back to the parts."""
        env = cls.__new__(cls)
        env._adopt([e for part in parts for e in part.envs], parts[0].max_episode_steps)
        env.elapsed = np.concatenate([part.elapsed for part in parts])
        env.episode_return = np.concatenate([part.episode_return for part in parts])
        env.obs = np.concatenate([part.obs for part in parts])
        return env

    def split(self, parts: Sequence[BatchEnv]) -> None:
        start = 0
        for part in parts:
            rows = slice(start, start + part.num_envs)
            part.elapsed, part.episode_return = (
                self.elapsed[rows].copy(),
                self.episode_return[rows].copy(),
            )
            part.obs = self.obs[rows].copy()
            start += part.num_envs

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
            raise ValueError(
                f"checkpoint holds {len(state['envs'])} envs, config has {self.num_envs}"
            )
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

        mujoco.mj_copyData(env.data, env.model, pickle.loads(state["data"]))  # type: ignore[attr-defined]  # a MujocoEnv
    else:
        env = pickle.loads(state["env"])
    env.np_random.bit_generator.state = state["rng"]
    return env
