"""What every figure builder shares: the result type, the 'no data' signal, colors, CI bands."""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only; a report must build on a machine without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from analysis.probe_columns import canonical  # noqa: E402
from analysis.stats import bootstrap_ci  # noqa: E402

# The paper's line where implementations estimate the gradient: 2K state-action pairs.
PRACTICE_SAMPLES = 2048
ALGO_ORDER = ["ppo", "ppo_m", "ppo_noclip", "trpo", "trpo_plus", "pg"]


@dataclass
class Figure:
    name: str      # file stem, unique within the report
    title: str
    caption: str
    fig: plt.Figure


class MissingData(Exception):
    """A figure the data cannot support; the message says what is missing."""


def algo_colors(algos) -> dict[str, str]:
    """Stable colors: the same algorithm has the same color in every figure."""
    cmap = plt.get_cmap("tab10")
    known = [a for a in ALGO_ORDER] + sorted(set(algos) - set(ALGO_ORDER))
    return {a: cmap(i % 10) for i, a in enumerate(known)}


def ordered(algos) -> list[str]:
    algos = set(algos)
    return [a for a in ALGO_ORDER if a in algos] + sorted(algos - set(ALGO_ORDER))


def probe_table(runs, probe: str, needs: tuple[str, ...] = ()) -> pd.DataFrame:
    """The canonical probe table, or MissingData naming what is absent."""
    if probe not in runs.probes:
        raise MissingData(f"no run has probes/{probe}.parquet (train with probe={probe})")
    table = canonical(runs.probes[probe], probe)
    missing = [c for c in needs if c not in table]
    if missing:
        raise MissingData(f"probes/{probe}.parquet lacks column(s) {', '.join(missing)}")
    table = table.dropna(subset=["value"])
    if table.empty:
        raise MissingData(f"probes/{probe}.parquet holds no values")
    return table


def mean_band(matrix: np.ndarray, confidence: float = 0.95, seed: int = 0):
    """Per column of ``matrix`` (rows = runs): mean and 95% bootstrap CI of the mean across runs,
    vectorized over columns. Columns with missing values or fewer than 2 runs get no band."""
    mean = np.nanmean(matrix, axis=0)
    low = np.full(matrix.shape[1], np.nan)
    high = low.copy()
    full = ~np.isnan(matrix).any(axis=0)
    if matrix.shape[0] >= 2 and full.any():
        res = stats.bootstrap((matrix[:, full],), np.mean, axis=0, n_resamples=1000,
                              confidence_level=confidence, method="percentile",
                              rng=np.random.default_rng(seed))
        low[full], high[full] = res.confidence_interval.low, res.confidence_interval.high
    return mean, low, high


def trial_band(group: pd.DataFrame, x: str, seed: int = 0) -> pd.DataFrame:
    """Per ``x`` value: mean of ``value`` and its CI. Uses the probe's own ci_low/ci_high when it
    wrote them; otherwise bootstraps over the rows (trials) at that x."""
    out = []
    for xv, rows in group.groupby(x, sort=True):
        values = rows["value"].to_numpy(float)
        if {"ci_low", "ci_high"} <= set(rows) and rows["ci_low"].notna().all() and len(rows) == 1:
            low, high = float(rows["ci_low"].iloc[0]), float(rows["ci_high"].iloc[0])
        else:  # a single value or no spread: the interval is the point itself
            _, low, high = bootstrap_ci([values], n_resamples=500, seed=seed)
        out.append((xv, float(values.mean()), low, high))
    return pd.DataFrame(out, columns=[x, "mean", "low", "high"])


def practice_line(ax, label: bool = True) -> None:
    ax.axvline(PRACTICE_SAMPLES, color="k", ls=":", lw=1, label="2K (practice)" if label else None)


def grid(n: int, width: float = 4.0, height: float = 3.2, max_cols: int = 4):
    cols = min(n, max_cols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])
