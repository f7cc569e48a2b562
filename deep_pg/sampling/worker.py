"""What a probe's sampling worker process hosts: an EnvGroup, a frozen policy copy and its own
RNG streams.

A ``deep_pg.sampling.pool.WorkerPool`` process builds it and runs ``ParallelSampler``'s commands
on it; step data goes into the worker's shared-memory chunk, so no per-step data is pickled.
Every collection starts from environments reset with seeds derived from the request's seed and
this worker's index: a collection depends only on (seed, policy, layout), never on what the
worker did before.
"""

from __future__ import annotations

import time
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import torch

from deep_pg.sampling.envs import EnvGroup
from deep_pg.sampling.layout import chunk_views


class ProbeWorker:
    def __init__(
        self,
        index: int,
        env_id: str,
        num_envs: int,
        max_episode_steps: int | None,
        shm_name: str,
        chunk_steps: int,
    ):
        self.index = index
        self.group = EnvGroup(env_id, num_envs, max_episode_steps)
        self.shm = shared_memory.SharedMemory(name=shm_name)
        g = self.group
        self.chunk = chunk_views(self.shm.buf, chunk_steps, num_envs, g.obs_dim, g.act_dim)
        self.scratch = chunk_views(
            bytearray(self.shm.size), chunk_steps, num_envs, g.obs_dim, g.act_dim
        )
        self.policy: Any = None  # set by set_policy before any collection
        self.obs_normalizer: Any = None
        self.std: np.ndarray | None = None
        self.rng = np.random.default_rng()
        self.active = 0  # environments in use by the current collection
        self.gamma = 1.0

    # --- commands -------------------------------------------------------------------------------
    def max_episode_steps(self) -> int:
        return self.group.max_episode_steps

    def set_policy(self, policy, obs_normalizer) -> None:
        self.policy, self.obs_normalizer = policy.eval(), obs_normalizer
        self.std = torch.exp(policy.log_std.detach()).numpy()

    def start(self, seed: int, num_envs: int, gamma: float, warmup: bool) -> None:
        """Reset the first ``num_envs`` environments from fresh seeds (and randomize their
        phase)."""
        self.rng = np.random.default_rng([seed, self.index])
        self.active, self.gamma = num_envs, gamma
        self.group.reset(self.rng.integers(0, 2**31 - 1, size=self.group.num_envs))
        if warmup:
            self._warmup()

    def _warmup(self) -> None:
        """Env i runs ``max_episode_steps - delay_i`` steps, delay uniform: recording then starts at
        an arbitrary point of an episode, as the agent's batches do, not right after a reset."""
        horizon = self.group.max_episode_steps
        delays = self.rng.integers(0, horizon, size=self.active)
        for s in range(horizon):
            envs = np.flatnonzero(delays <= s)
            _, actions = self._act(envs)
            self.group.step(actions, envs, self.gamma, self._rows(self.scratch, 0, envs.size))

    def record(self, steps: int) -> list[tuple[int, float, float, int]]:
        """Step every active environment ``steps`` times into the shared chunk."""
        envs = np.arange(self.active)
        ended = []
        for t in range(steps):
            obs, actions = self._act(envs)
            self.chunk["obs"][t, : self.active] = obs
            self.chunk["actions"][t, : self.active] = actions
            ended += self.group.step(
                actions, envs, self.gamma, self._rows(self.chunk, t, self.active)
            )
            self.chunk["final_obs"][t, : self.active] = self.obs_normalizer.transform(
                self.chunk["final_obs"][t, : self.active]
            )
        return ended

    def episodes(self, steps_per_env: int) -> tuple[list[tuple[int, float, float, int]], int]:
        """Each active env starts episodes until it has made ``steps_per_env`` steps and finishes
        the episode it is in; returns the episodes and the number of steps made."""
        steps = np.zeros(self.active, dtype=np.int64)
        ended: list[tuple[int, float, float, int]] = []
        total = 0
        while True:
            running = (steps < steps_per_env) | (self.group.elapsed[: self.active] > 0)
            envs = np.flatnonzero(running)
            if envs.size == 0:
                return ended, total
            _, actions = self._act(envs)
            ended += self.group.step(
                actions, envs, self.gamma, self._rows(self.scratch, 0, envs.size)
            )
            steps[envs] += 1
            total += envs.size

    def cpu_seconds(self) -> float:
        """CPU time this worker has used (for throughput per core on a shared machine)."""
        return time.process_time()

    # --- helpers --------------------------------------------------------------------------------
    def _act(self, envs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One batched policy forward for the environments ``envs``: (normalized obs, actions)."""
        obs = self.obs_normalizer.transform(self.group.obs[envs]).astype(np.float32)
        with torch.inference_mode():
            mean = self.policy(torch.from_numpy(obs)).numpy()
        noise = self.rng.standard_normal(mean.shape, dtype=np.float32)
        return obs, mean + self.std * noise

    @staticmethod
    def _rows(views: dict[str, np.ndarray], t: int, n: int) -> dict[str, np.ndarray]:
        return {k: views[k][t, :n] for k in ("rewards", "terminated", "truncated", "final_obs")}

    def close(self) -> None:
        self.group.close()
        self.chunk = self.scratch = None  # type: ignore[assignment]  # views of the memory closed next
        self.shm.close()
