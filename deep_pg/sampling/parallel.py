"""``ParallelSampler``: the probes' sampler. W worker processes x E environments each.

Training samples each run's own environments with ``deep_pg.sampling.pack.PackSampler``; probes
need 1e6-1e7 state-action pairs at one policy, so collection runs in ``num_workers`` processes of
the same ``WorkerPool`` (both cores), each hosting a ``ProbeWorker`` that steps many environments
together with one batched policy forward per step and writes into a shared-memory chunk that this
process copies out. The policy and the observation normalizer are frozen copies; the
environments, seeds and RNG streams are the sampler's own, so training state is never touched.

Two kinds of collection:
- ``streams``: N independent streams of T consecutive steps (phase-randomized, see the worker),
  as a ``Rollout`` the training code understands; for gradients, value targets and batches.
- ``episodes``: complete episodes from reset with a budget of state-action pairs; for returns.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import cast

import gymnasium as gym
import numpy as np

from deep_pg.envs.batch_env import make_env
from deep_pg.envs.normalization import ObservationNormalizer, RewardScaler
from deep_pg.experience import Rollout
from deep_pg.networks import GaussianPolicy
from deep_pg.sampling.layout import chunk_nbytes, chunk_views
from deep_pg.sampling.pool import Command, WorkerPool
from deep_pg.sampling.worker import ProbeWorker


@dataclass
class Streams:
    rollout: Rollout  # (T, N) time-major; rewards scaled by the frozen reward scaler
    raw_rewards: np.ndarray  # (T, N) environment rewards before scaling


@dataclass
class EpisodeStats:
    returns: np.ndarray  # undiscounted raw return of each episode
    discounted_returns: np.ndarray  # sum_t gamma^t r_t from the initial state
    lengths: np.ndarray
    num_pairs: int  # state-action pairs actually collected (>= the budget)


class ParallelSampler:
    def __init__(
        self,
        env_id: str,
        max_episode_steps: int | None,
        num_workers: int,
        envs_per_worker: int,
        chunk_steps: int = 256,
    ):
        self.num_workers, self.envs_per_worker, self.chunk_steps = (
            num_workers,
            envs_per_worker,
            chunk_steps,
        )
        self.capacity = num_workers * envs_per_worker
        self.obs_dim, self.act_dim = env_dims(env_id)
        nbytes = chunk_nbytes(chunk_steps, envs_per_worker, self.obs_dim, self.act_dim)
        self.shms, self.chunks = [], []
        self.pool: WorkerPool | None = None
        try:
            for _ in range(num_workers):
                shm = shared_memory.SharedMemory(create=True, size=nbytes)
                self.shms.append(shm)
                self.chunks.append(
                    chunk_views(shm.buf, chunk_steps, envs_per_worker, self.obs_dim, self.act_dim)
                )
            self.pool = WorkerPool(
                [
                    (
                        ProbeWorker,
                        (w, env_id, envs_per_worker, max_episode_steps, shm.name, chunk_steps),
                    )
                    for w, shm in enumerate(self.shms)
                ]
            )
            self.max_episode_steps = self.pool.call({0: ("max_episode_steps", ())})[0]
        except BaseException:
            self.close()
            raise
        self.obs_normalizer: ObservationNormalizer | None = None
        self.reward_scaler: RewardScaler | None = None

    # --- policy ---------------------------------------------------------------------------------
    def set_policy(
        self,
        policy: GaussianPolicy,
        obs_normalizer: ObservationNormalizer,
        reward_scaler: RewardScaler,
    ) -> None:
        """Act with (a copy of) ``policy`` and frozen copies of the normalizers from now on."""
        self.obs_normalizer, self.reward_scaler = obs_normalizer.frozen(), reward_scaler.frozen()
        policy = copy.deepcopy(policy).requires_grad_(False)
        self._call_all("set_policy", (policy, self.obs_normalizer))

    # --- collections ----------------------------------------------------------------------------
    def streams(self, num_streams: int, steps: int, seed: int, gamma: float) -> Streams:
        """``num_streams`` independent streams of ``steps`` consecutive on-policy steps."""
        shares = self._shares(num_streams)
        busy = [w for w, n in enumerate(shares) if n]
        self._call({w: ("start", (seed, shares[w], gamma, True)) for w in busy})
        starts = np.concatenate([[0], np.cumsum(shares)])
        out = {
            k: np.empty((steps, num_streams, *v.shape[2:]), dtype=v.dtype)
            for k, v in self.chunks[0].items()
        }
        episode_returns, episode_lengths = [], []
        for t0 in range(0, steps, self.chunk_steps):
            n = min(self.chunk_steps, steps - t0)
            for ended in self._call({w: ("record", (n,)) for w in busy}).values():
                episode_returns += [r for _, r, _, _ in ended]
                episode_lengths += [length for _, _, _, length in ended]
            for w in busy:
                for key, arr in out.items():
                    arr[t0 : t0 + n, starts[w] : starts[w + 1]] = self.chunks[w][key][
                        :n, : shares[w]
                    ]
        assert self.reward_scaler is not None  # set_policy came first
        rewards = self.reward_scaler(out["rewards"], np.zeros(out["rewards"].shape, dtype=bool))
        rollout = Rollout(
            out["obs"],
            out["actions"],
            rewards.astype(np.float32),
            out["terminated"],
            out["truncated"],
            out["final_obs"],
            episode_returns,
            episode_lengths,
        )
        return Streams(rollout, out["rewards"])

    def episodes(self, num_pairs: int, seed: int, gamma: float) -> EpisodeStats:
        """Complete episodes from reset worth at least ``num_pairs`` state-action pairs.

        The budget is split over as many environments as hold at least one full-length episode
        each (so a small budget is not spent as many short starts), and every episode started
        within the budget is finished: dropping unfinished ones would favour short episodes.
        """
        num_envs = int(np.clip(num_pairs // self.max_episode_steps, 1, self.capacity))
        shares = self._shares(num_envs)
        busy = [w for w, n in enumerate(shares) if n]
        self._call({w: ("start", (seed, shares[w], gamma, False)) for w in busy})
        steps_per_env = -(-num_pairs // num_envs)
        results = self._call({w: ("episodes", (steps_per_env,)) for w in busy})
        ended = [e for episodes, _ in results.values() for e in episodes]
        return EpisodeStats(
            returns=np.array([r for _, r, _, _ in ended]),
            discounted_returns=np.array([d for _, _, d, _ in ended]),
            lengths=np.array([length for _, _, _, length in ended]),
            num_pairs=int(sum(total for _, total in results.values())),
        )

    def worker_cpu_seconds(self) -> float:
        """CPU seconds used by all workers so far."""
        return float(sum(self._call_all("cpu_seconds", ()).values()))

    # --- plumbing -------------------------------------------------------------------------------
    def _shares(self, num_envs: int) -> list[int]:
        """How many environments each worker runs (as even as possible)."""
        if not 1 <= num_envs <= self.capacity:
            raise ValueError(
                f"{num_envs} streams requested; this sampler holds 1..{self.capacity} "
                f"(num_workers x envs_per_worker)"
            )
        base, extra = divmod(num_envs, self.num_workers)
        return [base + (w < extra) for w in range(self.num_workers)]

    def _call_all(self, command: str, args: tuple) -> dict:
        return self._call({w: (command, args) for w in range(self.num_workers)})

    def _call(self, commands: dict[int, Command]) -> dict:
        assert self.pool is not None  # the workers started
        return self.pool.call(commands)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        self.chunks = []  # views into the blocks must go before the blocks can close
        for shm in self.shms:
            shm.close()
            shm.unlink()
        self.shms = []

    def __enter__(self) -> ParallelSampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def env_dims(env_id: str) -> tuple[int, int]:
    """Observation and action sizes (to size shared memory before the workers exist)."""
    env = make_env(env_id)
    obs_space, action_space = env.observation_space, cast(gym.spaces.Box, env.action_space)
    dims = int(np.prod(cast(gym.spaces.Box, obs_space).shape)), int(np.prod(action_space.shape))
    env.close()
    return dims
