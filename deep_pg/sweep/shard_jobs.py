"""The shard jobs of sharded probes (``deep-pg-probe -m ... probe.shards=S``).

A probe job whose config asks for S > 1 shards gets S shard jobs, its own overrides plus
``shard=<s>``, each drawing its parts of the "true" sample into the run directory; the job itself
is the reduce, which reads the parts into the probe table. Launchers run a reduce only after its
shards succeeded: locally the shards run first, on Slurm the reduce depends on them (afterok). A
probe that is done already gets no shard jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext
from omegaconf import DictConfig

from deep_pg.sweep import apps
from deep_pg.sweep.preflight import check_jobs


@dataclass
class ShardJob:
    num: int
    overrides: list[str]
    config: DictConfig
    reduce: int  # the job number of the probe job it draws for


def shard_jobs(
    hydra_context: HydraContext,
    config: DictConfig,
    jobs: Sequence[tuple[int, list[str], DictConfig]],
    first_num: int,
) -> list[ShardJob]:
    """The shard jobs of ``jobs`` (number, overrides, composed config), numbered from
    ``first_num`` and checked like any job before launching."""
    planned = []
    for num, overrides, cfg in jobs:
        if (
            apps.is_probe_job(cfg)
            and cfg.probe.shards > 1
            and cfg.shard is None
            and not apps.job_done(cfg)
        ):
            planned += [([*overrides, f"shard={s}"], num) for s in range(cfg.probe.shards)]
    if not planned:
        return []
    configs = check_jobs(hydra_context, config, [o for o, _ in planned], first_num)
    return [
        ShardJob(first_num + k, overrides, cfg, reduce)
        for k, ((overrides, reduce), cfg) in enumerate(zip(planned, configs))
    ]


def shard_failures(shards: Sequence[ShardJob], returns: Sequence[JobReturn]) -> dict[int, str]:
    """Why each probe job whose shards did not all complete cannot be reduced, by its number."""
    failed: dict[int, list[str]] = {}
    for shard, ret in zip(shards, returns):
        if ret.status != JobStatus.COMPLETED:
            failed.setdefault(shard.reduce, []).append(
                f"shard job {shard.num}: {getattr(ret, 'error', None) or 'failed'}"
            )
    return {num: "its shards failed: " + "; ".join(reasons) for num, reasons in failed.items()}
