"""Sampling, for training and probes alike.

- ``rollout``: the Rollout, GAE, and ``MemberSampler`` (one run's environments, normalizers and
  action noise), which collects a training iteration's experience.
- ``pool``: ``PackSampler``, the members of a pack sampled in this process or in worker processes.
- ``parallel`` (with ``worker``, ``envs``, ``layout``): ``ParallelSampler``, the probes' many-env
  sampler at one frozen policy, stepping environments in worker processes over shared memory.
"""
from deep_pg.sampling.parallel import EpisodeStats, ParallelSampler, Streams
from deep_pg.sampling.pool import PackSampler
from deep_pg.sampling.rollout import MemberSampler, PolicyArrays, Rollout, gae

__all__ = ["EpisodeStats", "MemberSampler", "PackSampler", "ParallelSampler", "PolicyArrays",
           "Rollout", "Streams", "gae"]
