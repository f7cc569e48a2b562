"""The landscape probe's grids as numbers a document can quote (paper §2.3, Figs. 5-7).

Per run, iteration and step regime (``step_samples``: the pairs the step was computed from), over
the grid's points (step coefficient x random coefficient):

- ``rank_vs_largest`` at sample count n: the Spearman correlation between the return landscape
  estimated with n pairs per point and the one estimated with the largest count. Near 1 the
  low-sample landscape tells good points from bad as the accurate one does; near 0 it cannot
  (the paper's "jagged" low-sample landscapes, Fig. 5).
- ``surrogate_rank``: the Spearman correlation between the surrogate objective the algorithm
  maximizes and the return at the largest count (Figs. 6, 7: aligned early in training,
  misaligned later).
- ``step_gain``: the return one full step along the step direction (step coefficient 1, random
  coefficient 0) minus the return at the origin, at the largest count: whether the step the
  algorithm took raised the true return. Left out when the grid has no step coefficient 1.

Intervals of one run: for the correlations a paired bootstrap over the grid points (how much the
correlation rests on which points the grid holds; each point's own estimation noise is not in
it); for ``step_gain`` the two points' own intervals combined as independent normal errors.
Over several runs, the t-interval over runs, as for the other probe tables
(``analysis.stats.estimate_interval``); column ``interval`` names each. A mean over runs can
hide runs that disagree (two grids correlated +0.9 and -0.9 average to 0), so
``landscape_tables`` also returns each run's values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from deep_pg.analysis.figures.common import MissingData, probe_table
from deep_pg.analysis.stats import estimate_interval, interval_label
from deep_pg.bootstrap import interval

KEYS = ["env", "algo", "setting", "iteration", "step_samples", "measure", "sample_count"]
COLUMNS = [*KEYS, "n_runs", "mean", "mean_low", "mean_high", "ci_over", "interval"]
RUN_COLUMNS = [
    "env",
    "algo",
    "setting",
    "seed",
    "iteration",
    "step_samples",
    "measure",
    "sample_count",
    "value",
    "value_low",
    "value_high",
    "interval",
    "run_id",
]
GRID = ["step_coef", "random_coef"]


def _spearman(x, y, axis=-1):
    """Spearman correlation along ``axis`` (vectorized for scipy's bootstrap)."""
    rx, ry = (stats.rankdata(v, axis=axis) for v in (x, y))
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of one repeated point
        return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))


def _correlation_row(x: pd.Series, y: pd.Series, seed: int) -> dict:
    """Spearman correlation of two landscapes over their common grid points, with its paired
    bootstrap interval over the points."""
    both = pd.concat([x.rename("x"), y.rename("y")], axis=1, join="inner").dropna()
    value = float(_spearman(both["x"].to_numpy(), both["y"].to_numpy()))
    low, high = interval(
        (both["x"].to_numpy(), both["y"].to_numpy()), _spearman, seed=seed, paired=True
    )
    return {"value": value, "ci_low": float(low), "ci_high": float(high)}


def _step_gain_row(returns: pd.DataFrame) -> dict | None:
    """Return at (step 1, random 0) minus the return at the origin, with their intervals combined
    as independent normal errors; None when the grid lacks either point."""
    a = returns.index.get_level_values("step_coef")
    b = returns.index.get_level_values("random_coef")
    at_step, at_origin = np.isclose(a, 1.0) & (b == 0), (a == 0) & (b == 0)
    if not (at_step.any() and at_origin.any()):
        return None
    step, origin = returns[at_step].iloc[0], returns[at_origin].iloc[0]
    half = np.hypot(
        (step["ci_high"] - step["ci_low"]) / 2, (origin["ci_high"] - origin["ci_low"]) / 2
    )
    gain = float(step["value"] - origin["value"])
    return {"value": gain, "ci_low": gain - half, "ci_high": gain + half}


def landscape_measures(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per-run rows (run_id, KEYS, value, ci_low, ci_high) from landscape probe rows."""
    rows = []
    cells = table.groupby(
        ["run_id", "env", "algo", "setting", "iteration", "step_samples"], sort=True
    )
    for (run_id, env, algo, setting, it, m), cell in cells:
        base = dict(
            run_id=run_id, env=env, algo=algo, setting=setting, iteration=it, step_samples=m
        )
        returns = cell[cell["measure"] == "return"]
        if returns.empty:
            continue
        largest = returns["sample_count"].max()
        by_count = {
            n: part.set_index(GRID).sort_index() for n, part in returns.groupby("sample_count")
        }
        accurate = by_count[largest]
        for n, part in by_count.items():
            if n < largest:
                rows.append(
                    {
                        **base,
                        "measure": "rank_vs_largest",
                        "sample_count": n,
                        **_correlation_row(part["value"], accurate["value"], seed),
                    }
                )
        surrogate = cell[cell["measure"] == "surrogate"].set_index(GRID)["value"]
        if not surrogate.empty:
            rows.append(
                {
                    **base,
                    "measure": "surrogate_rank",
                    "sample_count": largest,
                    **_correlation_row(surrogate, accurate["value"], seed),
                }
            )
        gain = _step_gain_row(accurate)
        if gain is not None:
            rows.append({**base, "measure": "step_gain", "sample_count": largest, **gain})
    return pd.DataFrame(rows, columns=["run_id", *KEYS, "value", "ci_low", "ci_high"])


def _own_interval(measure: str) -> str:
    """What a single run's interval is over (the module docstring)."""
    return "points" if measure == "step_gain" else "grid"


def _own_label(measure: str, grid_points: int) -> str:
    """The label of a single run's interval (``analysis.stats.interval_label``'s form)."""
    if measure == "step_gain":
        return "normal, from the two points' own intervals (one agent)"
    return interval_label("percentile bootstrap", grid_points, "grid points (one agent)")


def landscape_tables(runs, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per run): per KEYS cell the mean over runs with its interval, and every run's own
    value with its own interval (RUN_COLUMNS); both empty without landscape tables."""
    try:
        table = probe_table(
            runs, "landscape", needs=("measure", "sample_count", "iteration", "step_samples", *GRID)
        )
    except MissingData:
        return pd.DataFrame(columns=COLUMNS), pd.DataFrame(columns=RUN_COLUMNS)
    # a hand-made table may lack the points' intervals: step_gain then has none of its own
    table = table.assign(**{c: float("nan") for c in ("ci_low", "ci_high") if c not in table})
    measures = landscape_measures(table, seed)
    grid_points = table[GRID].drop_duplicates().shape[0]
    out = []
    for keys, part in measures.groupby(KEYS, sort=True):
        cell = dict(zip(KEYS, keys))
        point, low, high, own = estimate_interval(part)
        n_runs = part["run_id"].nunique()
        out.append(
            {
                **cell,
                "n_runs": n_runs,
                "mean": point,
                "mean_low": low,
                "mean_high": high,
                "ci_over": _own_interval(cell["measure"]) if own else "runs",
                "interval": (
                    _own_label(cell["measure"], grid_points)
                    if own
                    else interval_label("t", n_runs, "agents")
                ),
            }
        )
    ints = {"step_samples": "Int64", "sample_count": "Int64"}
    summary = pd.DataFrame(out, columns=COLUMNS).astype(ints)
    seeds = table.drop_duplicates("run_id").set_index("run_id")["seed"] if "seed" in table else {}
    per_run = (
        measures.assign(
            seed=measures["run_id"].map(seeds),
            interval=[_own_label(m, grid_points) for m in measures["measure"]],
        )
        .rename(columns={"ci_low": "value_low", "ci_high": "value_high"})
        .sort_values(
            [
                "env",
                "algo",
                "setting",
                "iteration",
                "step_samples",
                "measure",
                "sample_count",
                "seed",
            ]
        )
        .reindex(columns=RUN_COLUMNS)
        .astype(ints)
        .reset_index(drop=True)
    )
    return summary, per_run
