"""How each algorithm keeps its trust region over training (blog post 002; paper §3.2).

Training logs, after every update and on that update's batch, the mean KL between the old and
the new policy (``mean_kl``) and the largest probability ratio π_new/π_old (``max_ratio``). Per
run this module reduces them over iterations to: the median mean KL, the share of iterations
whose mean KL is within TRPO's δ (the δ of that iteration: TRPO+ moves it linearly from
``algo.max_kl`` to ``algo.max_kl_final``), the median and the largest max ratio, and the share
of iterations whose max ratio exceeds PPO's 1 + ε. Per (env, algo, setting) the runs' values
are averaged with a t-interval over seeds (`analysis.settings`: the runs of one setting differ
only in the seed), and the largest of the runs' peaks is kept beside the mean of them. (The
held-out view of the same quantities is the ``trust_region`` probe.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deep_pg.analysis.stats import interval_label, mean_interval

# peak_max_ratio: a run's largest max ratio over its iterations (the table averages it over runs
# and gives the largest of the runs' peaks as peak_max_ratio_largest)
PER_RUN = ["median_mean_kl", "within_delta", "median_max_ratio", "peak_max_ratio", "beyond_clip"]


# The bound each algorithm family sets itself. Every run's config carries every algo.* key (the
# schema's defaults: a PPO run has an unused algo.max_kl), so the family says which one applies.
_OWN_BOUNDS = {"trpo": ("algo.max_kl", "algo.max_kl_final"), "ppo": ("algo.clip_eps",)}


def _own(config: pd.Series, key: str):
    """``key`` of the config where the run's algorithm family uses it, else None."""
    if key not in _OWN_BOUNDS.get(config.get("family"), ()):
        return None
    value = config.get(key)
    return None if value is None or pd.isna(value) else value


def _delta(config: pd.Series, iterations: pd.Series, total: float) -> np.ndarray | None:
    """TRPO's δ at each logged iteration, or None for algorithms without one."""
    start = _own(config, "algo.max_kl")
    if start is None:
        return None
    final = _own(config, "algo.max_kl_final")
    if final is None:
        return np.full(len(iterations), float(start))
    progress = (iterations.to_numpy(float) - 1) / max(total, 1)  # the update's progress
    return start + (final - start) * progress


def per_run(curves: pd.DataFrame, configs: pd.DataFrame) -> pd.DataFrame:
    """One row per run of ``configs`` with a logged mean_kl: the PER_RUN reductions over its
    iterations (runs of ``curves`` not in ``configs`` are left out)."""
    rows = []
    needed = {"mean_kl", "max_ratio"}
    if not needed <= set(curves.columns):
        return pd.DataFrame(columns=["run_id", "env", "algo", "setting", "seed", *PER_RUN])
    by_id = configs.set_index("run_id")
    curves = curves[curves["run_id"].isin(by_id.index)].dropna(subset=["mean_kl"])
    for run_id, run in curves.groupby("run_id", sort=True):
        config = by_id.loc[run_id]
        kl, ratio = run["mean_kl"].to_numpy(float), run["max_ratio"].to_numpy(float)
        delta = _delta(config, run["iteration"], float(config.get("total_iterations") or len(run)))
        eps = _own(config, "algo.clip_eps")
        clipped = eps is not None
        rows.append(
            {
                "run_id": run_id,
                "env": config["env"],
                "algo": config["algo"],
                "setting": config["setting"],
                "seed": config["seed"],
                "median_mean_kl": float(np.median(kl)),
                "within_delta": float(np.mean(kl <= delta * (1 + 1e-6)))
                if delta is not None
                else np.nan,
                "median_max_ratio": float(np.median(ratio)),
                "peak_max_ratio": float(np.max(ratio)),
                "beyond_clip": float(np.mean(ratio > 1 + eps)) if clipped else np.nan,
            }
        )
    return pd.DataFrame(rows)


def trust_region_table(curves: pd.DataFrame, configs: pd.DataFrame) -> pd.DataFrame:
    """Per (env, algo, setting): n runs, the bound each algorithm sets itself, each PER_RUN value
    as a mean over runs with its t-interval (``<value>_low``, ``<value>_high``; ``interval``
    names it), and ``peak_max_ratio_largest``, the largest max ratio of any run."""
    runs = per_run(curves, configs)
    rows = []
    for (env, algo, setting), cell in runs.groupby(["env", "algo", "setting"], sort=True):
        ids = configs.set_index("run_id").loc[cell["run_id"]]
        row = {"env": env, "algo": algo, "setting": setting, "n": len(cell), "bound": _bound(ids)}
        for column in PER_RUN:
            point, low, high, _ = mean_interval(cell[column])
            row.update({column: point, f"{column}_low": low, f"{column}_high": high})
        row["peak_max_ratio_largest"] = float(cell["peak_max_ratio"].max())
        row["interval"] = interval_label("t", len(cell), "seeds")
        rows.append(row)
    return pd.DataFrame(rows)


def _bound(configs: pd.DataFrame) -> str:
    """The trust region an algorithm's runs set themselves, in words."""
    parts = []
    for key, label in (
        ("algo.max_kl", "δ"),
        ("algo.max_kl_final", "final δ"),
        ("algo.clip_eps", "ε"),
    ):
        values = sorted({v for _, c in configs.iterrows() if (v := _own(c, key)) is not None})
        if values:
            parts.append(f"{label} {', '.join(f'{v:g}' for v in values)}")
    return "; ".join(parts) or "none"
