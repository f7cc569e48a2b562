"""The columns every loader produces, whatever the source (run directories or a wandb project).

A run is described by a flat dict: headline columns first (what one filters and groups by), then
every config key flattened with dots, named as users type them on the command line
(``algo.policy_lr``, ``opt.lr_anneal``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from deep_pg import identity as run

# Run status: what summary.json says, or "incomplete" when it is absent (running or killed).
COMPLETED, FAILED, INCOMPLETE = "completed", "failed", "incomplete"

# The four toggles of the blog's 16-way ablation as config columns, in the order of the sweep's
# opt=XXXX names.
ABLATION_TOGGLES = tuple(f"opt.{name}" for name in run.ABLATION_TOGGLES)

HEADLINE = [
    "run_id",
    "algo",
    "family",
    "env",
    "env_id",
    "seed",
    "lr",
    "value_lr",
    "total_steps",
    "status",
    "reason",
    "iterations",
    "total_iterations",
    "summary_final_return",
    "corrupt_lines",
    "run_dir",
    "modified",
]

# Columns of the wide per-iteration table (`Runs.curves`) that index rather than measure.
CURVE_INDEX = ["run_id", "iteration", "env_steps"]


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config → {"algo.policy_lr": ...}; lists are kept whole (they are one setting)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def headline(
    run_id: str,
    run_dir: str,
    flat_config: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    status: str,
    iterations: int,
    corrupt_lines: int,
    modified: float | None = None,
) -> dict[str, Any]:
    """The headline columns of one run. The summary fills algo/env/seed when the config is
    missing (a run started without Hydra has no .hydra/config.yaml). ``modified``: when the run
    last wrote a file (seconds since the epoch), to tell the most recent of repeated runs."""
    summary = summary or {}
    return {
        "run_id": run_id,
        "algo": flat_config.get("algo.name", summary.get("algo")),
        "family": flat_config.get("algo.family"),
        "env": flat_config.get("env.name", summary.get("env")),
        "env_id": flat_config.get("env.id"),
        "seed": flat_config.get("seed", summary.get("seed")),
        "lr": flat_config.get("algo.policy_lr"),
        "value_lr": flat_config.get("algo.value_lr"),
        "total_steps": flat_config.get("total_steps"),
        "status": status,
        "reason": summary.get("reason"),
        "iterations": iterations,
        "total_iterations": summary.get("total_iterations"),
        "summary_final_return": summary.get("final_return"),
        "corrupt_lines": corrupt_lines,
        "run_dir": run_dir,
        "modified": modified,
    }


def is_identity_key(name: str) -> bool:
    """Whether a flat config column (``algo.policy_lr``, ``seed``) is part of a run's identity:
    it lies under one of ``deep_pg.identity.IDENTITY_KEYS``."""
    return name.split(".")[0] in run.IDENTITY_KEYS


def identity(flat_config: Mapping[str, Any]) -> str | None:
    """A run's identity: its ``deep_pg.identity.IDENTITY_KEYS`` config entries as one canonical
    string, or None when the run has no config to tell (such a run is never taken for a
    duplicate)."""
    keys = {k: v for k, v in flat_config.items() if is_identity_key(k)}
    if not any("." in k for k in keys):  # seed/total_steps alone (from summary.json) say too little
        return None
    return json.dumps(keys, sort_keys=True, default=str)
