"""A group of bare environments stepped together inside one sampling worker.

The stepping rule of ``deep_pg.envs.batch_env.BatchEnv``, the same code (``EnvSet.end_step``:
actions clipped to the action space, the time limit counted here, an episode that ends is reset in
the same step and the observation it ended in is kept as ``final_obs``), plus what probes need
and training does not: stepping only a subset of the environments (the others wait), resetting
every environment from new seeds, and each episode's discounted return.
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
        next_obs, reward, terminated = self.stepper.step(
            [self.envs[i] for i in envs], self.clip_actions(actions)
        )
        for k, i in enumerate(envs):  # discounted by the step's index in its episode
            self.discounted_return[i] += gamma ** self.elapsed[i] * reward[k]
        truncated, final_obs, ended = self.end_step(envs, next_obs, reward, terminated)
        out["rewards"][:], out["terminated"][:], out["truncated"][:] = reward, terminated, truncated
        out["final_obs"][:] = final_obs
        self.obs[envs] = next_obs
        episodes = []
        for k, episode_return, length in ended:
            i = int(envs[k])
            episodes.append((i, episode_return, float(self.discounted_return[i]), length))
            self.discounted_return[i] = 0.0
        return episodes
