"""The shared-memory block of one sampling worker: one chunk of ``steps`` x ``num_envs`` steps.

Main process and worker both call :func:`chunk_views` on the same block, so the layout is written
down once. Arrays are time-major like ``deep_pg.sampling.rollout.Rollout``.
"""

from __future__ import annotations

import numpy as np


def _fields(steps: int, num_envs: int, obs_dim: int, act_dim: int) -> list[tuple[str, tuple, type]]:
    return [
        ("obs", (steps, num_envs, obs_dim), np.float32),  # normalized observation acted on
        ("actions", (steps, num_envs, act_dim), np.float32),  # sampled, unclipped
        ("final_obs", (steps, num_envs, obs_dim), np.float32),  # normalized obs the step ended in
        ("rewards", (steps, num_envs), np.float64),  # raw environment reward
        ("terminated", (steps, num_envs), np.bool_),
        ("truncated", (steps, num_envs), np.bool_),
    ]


def _aligned(nbytes: int) -> int:
    return (nbytes + 63) // 64 * 64


def chunk_nbytes(steps: int, num_envs: int, obs_dim: int, act_dim: int) -> int:
    return sum(
        _aligned(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        for _, shape, dtype in _fields(steps, num_envs, obs_dim, act_dim)
    )


def chunk_views(
    buf, steps: int, num_envs: int, obs_dim: int, act_dim: int
) -> dict[str, np.ndarray]:
    """Numpy arrays laid over ``buf`` (a SharedMemory buffer), one per field."""
    views, offset = {}, 0
    for name, shape, dtype in _fields(steps, num_envs, obs_dim, act_dim):
        views[name] = np.ndarray(shape, dtype=dtype, buffer=buf, offset=offset)
        offset += _aligned(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return views
