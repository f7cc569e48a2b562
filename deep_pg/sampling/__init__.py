"""Sampling, for training and probes alike: one kind of worker process, two ways to use it.

- ``pool``: ``WorkerPool``, the sampling worker processes (spawned, one torch thread, commands
  over a pipe, a worker's traceback raised here as ``SamplerError``).
- ``rollout``: ``MemberSampler`` (one run's environments, normalizers and action noise), which
  collects a training iteration's experience as a ``deep_pg.experience.Rollout``.
- ``pack``: ``PackSampler``, the members of a pack sampled in this process or, each worker
  hosting a ``MemberGroup``, in the pool's processes.
- ``parallel`` (with ``worker``, ``envs``, ``layout``): ``ParallelSampler``, the probes' many-env
  sampler at one frozen policy, each worker hosting a ``ProbeWorker`` that writes into shared
  memory.
"""

from deep_pg.sampling.pack import PackSampler
from deep_pg.sampling.parallel import EpisodeStats, ParallelSampler, Streams
from deep_pg.sampling.pool import SamplerError, WorkerPool
from deep_pg.sampling.rollout import MemberSampler, PolicyArrays

__all__ = [
    "EpisodeStats",
    "MemberSampler",
    "PackSampler",
    "ParallelSampler",
    "PolicyArrays",
    "SamplerError",
    "Streams",
    "WorkerPool",
]
