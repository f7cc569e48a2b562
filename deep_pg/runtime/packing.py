"""Which runs can share one process: the packing rule of ``hydra.launcher.pack``.

Runs of a pack are trained together, every network and optimizer carrying a leading member
dimension, so they must agree on everything that fixes tensor shapes or the loop structure:
the environment, the algorithm family, the network shape and activation, the batch layout, the
number of iterations and the update's loop counts. Everything else — seeds, learning rates, the
``opt.*`` toggles except the activation, clip epsilons, TRPO's delta, gamma, lambda — may differ
between members. Kept free of torch so a launcher can group jobs without importing it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf

PACK_KEYS = (
    "env.id",
    "env.num_envs",
    "env.max_episode_steps",
    "algo.family",
    "algo.hidden_sizes",
    "opt.activation",
    "algo.steps_per_iter",
    "total_steps",
    "algo.epochs",
    "algo.value_epochs",
    "algo.num_minibatches",
    "algo.cg_steps",
    "algo.max_backtracks",
    "algo.fisher_frac",
    "algo.baseline",
    "torch_threads",
)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pack_workers(num_members: int) -> int:
    """Sampling worker processes of a pack: none for a pack of one (a worker would only add a
    hand-over), else one per available core, at most one per member."""
    return 0 if num_members == 1 else min(num_members, available_cores())


def pack_key(cfg) -> tuple[Any, ...]:
    """The values a run must share with every other member of its pack."""

    def value(key: str) -> Any:
        node = OmegaConf.select(cfg, key)
        if OmegaConf.is_config(node):
            node = OmegaConf.to_container(node, resolve=True)
        return str(getattr(node, "value", node))  # enums and lists compare as text

    return tuple(value(key) for key in PACK_KEYS)


def first_difference(a, b) -> tuple[str, Any, Any] | None:
    """The first PACK_KEYS entry on which two configs differ, or None."""
    for key, x, y in zip(PACK_KEYS, pack_key(a), pack_key(b)):
        if x != y:
            return key, x, y
    return None


def group_into_packs(configs: Sequence, size: int) -> list[list[int]]:
    """Job indices grouped into packs of at most ``size`` runs with equal pack keys, in job order
    (a pack is filled with the next compatible jobs)."""
    by_key: dict[tuple, list[int]] = {}
    for i, cfg in enumerate(configs):
        by_key.setdefault(pack_key(cfg), []).append(i)
    packs = [jobs[k : k + size] for jobs in by_key.values() for k in range(0, len(jobs), size)]
    return sorted(packs, key=lambda pack: pack[0])
