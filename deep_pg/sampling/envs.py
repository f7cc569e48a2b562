"""A group of bare environments stepped together inside one sampling worker.

Same semantics as ``deep_pg.envs.batch_env.BatchEnv`` (actions clipped to the action space, the
time limit counted here, an episode that ends is reset in the same step and the observation it
ended in is kept as ``final_obs``), plus what probes need and training does not: stepping only a
subset of the environments (the others wait), and resetting every environment from new seeds.
"""

from __future__ import annotations

import numpy as np

from deep_pg.envs.batch_env import EnvSet


class EnvGroup(EnvSet):
    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None):
        super().__init__(env_id, num_envs, max_episode_steps)
        self.obs = np.zeros((num_envs, self.obs_dim))
        self.discounted_return = np.zeros(num_envs)  # sum_t gamma^t r_t of the current episode

    def reset(self, seeds: np.ndarray) -> None:
        """Start a fresh episode in every environment, env ``i`` seeded with ``seeds[i]``."""
        for i, env in enumerate(self.envs):
            self.obs[i] = env.reset(seed=int(seeds[i]))[0]
        self.elapsed[:] = 0
        self.episode_return[:] = 0.0
        self.discounted_return[:] = 0.0

    def step(
        self, actions: np.ndarray, envs: np.ndarray, gamma: float, out: dict[str, np.ndarray]
    ) -> list[tuple[int, float, float, int]]:
        """Step the environments ``envs`` (indices) with ``actions[k]`` for ``envs[k]``.

        Writes rewards, terminated, truncated and final_obs of those environments into the rows
        ``out[...][k]``; returns (env index, return, discounted return, length) of each episode that
        ended, after resetting its environment.
        """
        stepped = self.stepper.step([self.envs[i] for i in envs], self.clip_actions(actions))
        ended = []
        for k, (i, obs, reward, terminated) in enumerate(zip(envs, *stepped)):
            self.discounted_return[i] += gamma ** self.elapsed[i] * reward
            self.elapsed[i] += 1
            self.episode_return[i] += reward
            truncated = self.elapsed[i] >= self.max_episode_steps and not terminated
            out["rewards"][k], out["terminated"][k], out["truncated"][k] = (
                reward,
                terminated,
                truncated,
            )
            out["final_obs"][k] = obs
            if terminated or truncated:
                ended.append(
                    (
                        int(i),
                        float(self.episode_return[i]),
                        float(self.discounted_return[i]),
                        int(self.elapsed[i]),
                    )
                )
                obs = self.envs[i].reset()[0]
                self.elapsed[i] = 0
                self.episode_return[i] = 0.0
                self.discounted_return[i] = 0.0
            self.obs[i] = obs
        return ended
