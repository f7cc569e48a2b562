"""Probe sampling throughput vs the physics ceiling: state-action pairs per second.

For each environment, in one run:
- ``single env``: one gymnasium env stepped with a torch [64,64] policy, one forward per step
  (what naive probe code does);
- ``ParallelSampler``: deep_pg.sampling with W workers x E envs, a [64,64] torch policy, frozen
  observation normalization; ``streams`` (phase warm-up included) and ``episodes`` collections;
- ``raw mj_step``: the ceiling: batched ``mujoco.mj_step`` (frame_skip substeps) on the same
  model, a numpy [64,64] tanh policy on qpos/qvel, W threads (mj_step releases the GIL); no
  rewards, observations dicts, resets or recording.

    python benchmarks/sampling.py [--envs Hopper-v5 Humanoid-v5] [--workers 2] \
        [--envs-per-worker 16]

Rates are given per wall-clock second and per CPU second of every process and thread involved
(workers + main process; the raw loop's threads): on a shared machine the first depends on the
others' load (printed before and after), the second is what the code achieves per core.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from deep_pg.envs.batch_env import make_env
from deep_pg.envs.normalization import ObservationNormalizer, RewardScaler
from deep_pg.networks import GaussianPolicy
from deep_pg.sampling import ParallelSampler

HIDDEN = [64, 64]


def make_policy(obs_dim: int, act_dim: int) -> GaussianPolicy:
    torch.manual_seed(0)
    return GaussianPolicy(obs_dim, act_dim, HIDDEN, "tanh", ortho_init=True)


@dataclass
class Rate:
    """Pairs per wall-clock second, and per CPU second (all processes and threads involved):
    the second is what this code achieves per core however busy the machine is."""

    wall: float
    cpu: float


def single_env_rate(env_id: str, seconds: float) -> Rate:
    env = make_env(env_id).unwrapped
    policy = make_policy(env.observation_space.shape[0], env.action_space.shape[0])
    obs, _ = env.reset(seed=0)
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        with torch.inference_mode():
            mean = policy(torch.as_tensor(obs, dtype=torch.float32))
            action = (mean + torch.exp(policy.log_std) * torch.randn_like(mean)).numpy()
        obs, _, terminated, _, _ = env.step(np.clip(action, -1, 1))
        steps += 1
        if terminated:
            obs, _ = env.reset()
    return Rate(steps / (time.perf_counter() - start), steps / (time.process_time() - cpu))


def sampler_rates(env_id: str, workers: int, envs_per_worker: int, pairs: int) -> tuple[Rate, Rate]:
    with ParallelSampler(env_id, None, workers, envs_per_worker) as sampler:
        policy = make_policy(sampler.obs_dim, sampler.act_dim)
        sampler.set_policy(
            policy,
            ObservationNormalizer(sampler.obs_dim, True, 10.0),
            RewardScaler(1, 0.99, True, 10.0),
        )
        streams = sampler.capacity
        sampler.streams(streams, 64, seed=0, gamma=0.99)  # first touch of every code path

        def timed(collect) -> Rate:
            wall, cpu = time.perf_counter(), time.process_time() + sampler.worker_cpu_seconds()
            num_pairs = collect()
            cpu = time.process_time() + sampler.worker_cpu_seconds() - cpu
            return Rate(num_pairs / (time.perf_counter() - wall), num_pairs / cpu)

        stream_rate = timed(
            lambda: sampler.streams(streams, pairs // streams, 1, 0.99).rollout.num_steps
        )
        episode_rate = timed(lambda: sampler.episodes(pairs, 2, 0.99).num_pairs)
    return stream_rate, episode_rate


def raw_mujoco_rate(env_id: str, threads: int, num_data: int, seconds: float) -> Rate:
    env = make_env(env_id).unwrapped
    model, frame_skip = env.model, env.frame_skip
    datas = [mujoco.MjData(model) for _ in range(num_data)]
    rng = np.random.default_rng(0)
    sizes = [model.nq + model.nv, *HIDDEN, model.nu]
    weights = [
        rng.standard_normal((a, b)).astype(np.float32) / np.sqrt(a)
        for a, b in zip(sizes, sizes[1:])
    ]
    groups = np.array_split(np.arange(num_data), threads)

    def step(group):
        for i in group:
            mujoco.mj_step(model, datas[i], nstep=frame_skip)

    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        while time.perf_counter() - start < seconds:
            obs = np.stack([np.concatenate([d.qpos, d.qvel]) for d in datas]).astype(np.float32)
            h = obs
            for w in weights[:-1]:
                h = np.tanh(h @ w)
            ctrl = np.clip(h @ weights[-1], -1, 1)
            for d, c in zip(datas, ctrl):
                d.ctrl[:] = c
            list(pool.map(step, groups))
            steps += num_data
    return Rate(steps / (time.perf_counter() - start), steps / (time.process_time() - cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=["Hopper-v5", "Humanoid-v5"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--envs-per-worker", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=200_000, help="pairs per sampler measurement")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="per single-env / raw measurement"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"cpus: {os.cpu_count()}  load average before: {os.getloadavg()}")
    rows = []
    for env_id in args.envs:
        pairs = args.pairs if env_id.startswith("Hopper") else args.pairs // 4
        single = single_env_rate(env_id, args.seconds)
        streams, episodes = sampler_rates(env_id, args.workers, args.envs_per_worker, pairs)
        raw = raw_mujoco_rate(
            env_id, args.workers, args.workers * args.envs_per_worker, args.seconds
        )
        rows.append((env_id, single, streams, episodes, raw))
    print(f"load average after: {os.getloadavg()}")
    print(
        f"pairs/s; {args.workers} workers x {args.envs_per_worker} envs; "
        f"policy {HIDDEN}, random init"
    )
    for kind in ("wall", "cpu"):
        print(f"\n[{'per wall-clock second' if kind == 'wall' else 'per CPU second (= per core)'}]")
        print(
            f"{'env':<12} {'single env':>11} {'streams':>9} {'episodes':>9} {'raw mj_step':>12} "
            f"{'streams/raw':>12} {'episodes/raw':>13} {'streams/single':>15}"
        )
        for env_id, *rates in rows:
            single, streams, episodes, raw = (getattr(r, kind) for r in rates)
            print(
                f"{env_id:<12} {single:>11,.0f} {streams:>9,.0f} {episodes:>9,.0f} {raw:>12,.0f} "
                f"{streams / raw:>12.2f} {episodes / raw:>13.2f} {streams / single:>15.2f}"
            )


if __name__ == "__main__":
    main()
