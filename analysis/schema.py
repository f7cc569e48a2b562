"""The columns every loader produces, whatever the source (run directories or a wandb project).

A run is described by a flat dict: headline columns first (what one filters and groups by), then
every config key flattened with dots, named as users type them on the command line
(``algo.policy_lr``, ``opt.lr_anneal``).
"""
from __future__ import annotations

from typing import Any, Mapping

# Run status: what summary.json says, or "incomplete" when it is absent (running or killed).
COMPLETED, FAILED, INCOMPLETE = "completed", "failed", "incomplete"

# The four toggles of the blog's 16-way ablation, in the order of the sweep's opt=XXXX names.
ABLATION_TOGGLES = ("opt.lr_anneal", "opt.reward_scaling", "opt.ortho_init", "opt.value_clip")

HEADLINE = ["run_id", "algo", "family", "env", "env_id", "seed", "lr", "value_lr", "total_steps",
            "status", "reason", "iterations", "total_iterations", "summary_final_return",
            "corrupt_lines", "run_dir"]

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


def headline(run_id: str, run_dir: str, flat_config: Mapping[str, Any],
             summary: Mapping[str, Any] | None, status: str, iterations: int,
             corrupt_lines: int) -> dict[str, Any]:
    """The headline columns of one run. The summary fills algo/env/seed when the config is
    missing (a run started without Hydra has no .hydra/config.yaml)."""
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
    }
