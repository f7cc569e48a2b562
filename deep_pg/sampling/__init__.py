"""Fast on-policy sampling for probes: worker processes, each stepping many environments with one
batched policy forward per step, writing into shared memory. Used only by probes; training keeps
its own single-process ``deep_pg.sampler.Sampler``."""
from deep_pg.sampling.parallel import EpisodeStats, ParallelSampler, Streams

__all__ = ["EpisodeStats", "ParallelSampler", "Streams"]
