"""What every figure builder shares: the result type, the 'no data' signal, colors, CI bands."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only; a report must build on a machine without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import (
    FuncFormatter,
    Locator,
    LogLocator,
    MaxNLocator,  # noqa: E402
    NullFormatter,
)
from scipy import stats  # noqa: E402

from deep_pg.analysis.stats import estimate_interval  # noqa: E402
from deep_pg.probes.results import MEAN_TRIAL  # noqa: E402

# The paper's line where implementations estimate the gradient: 2K state-action pairs.
PRACTICE_SAMPLES = 2048
ALGO_ORDER = ["ppo", "ppo_m", "ppo_noclip", "trpo", "trpo_plus", "pg"]


@dataclass
class Figure:
    name: str  # file stem, unique within the report
    title: str
    caption: str
    fig: plt.Figure


class MissingData(Exception):
    """A figure the data cannot support; the message says what is missing."""


def algo_colors(names) -> dict[str, tuple[float, float, float, float]]:
    """Stable colors: the same algorithm has the same color in every figure, also when a line
    names it with its setting (``ppo (opt.value_clip=False)``) and is its only line."""
    cmap = plt.get_cmap("tab10")
    known = [a for a in ALGO_ORDER] + sorted(set(names) - set(ALGO_ORDER))
    colors = {a: cmap(i % 10) for i, a in enumerate(known)}
    algo_of = {name: name.split(" (")[0] for name in set(names)}
    lines_of = Counter(algo_of.values())
    for name, algo in algo_of.items():
        if algo in ALGO_ORDER and lines_of[algo] == 1:
            colors[name] = colors[algo]
    return colors


def ordered(names) -> list[str]:
    """Algorithms (or arms, ``analysis.settings.arm``: an algorithm and its setting) in the
    paper's order, unknown ones after, alphabetically."""
    rank = {algo: i for i, algo in enumerate(ALGO_ORDER)}
    return sorted(set(names), key=lambda name: (rank.get(name.split(" (")[0], len(rank)), name))


def probe_table(runs, probe: str, needs: tuple[str, ...] = ()) -> pd.DataFrame:
    """A probe's table, one row per measurement: the probe's mean rows (trial == MEAN_TRIAL,
    with its CIs) where it wrote them, else the trial rows; or MissingData naming what is absent.
    Every probe names its columns alike (``deep_pg.probes.results``: ``measure`` the quantity,
    ``variant`` the condition), so no probe needs translating."""
    if probe not in runs.probes:
        raise MissingData(f"no run has probes/{probe}.parquet (train with probe={probe})")
    table = runs.probes[probe]
    if "trial" in table and (table["trial"] == MEAN_TRIAL).any():
        table = _with_trial_counts(table)
    missing = [c for c in needs if c not in table]
    if missing:
        raise MissingData(f"probes/{probe}.parquet lacks column(s) {', '.join(missing)}")
    table = table.dropna(subset=["value"])
    if table.empty:
        raise MissingData(f"probes/{probe}.parquet holds no values")
    return table


# Columns of a probe row that measure rather than name what was measured.
_MEASURED = ("trial", "value", "ci_low", "ci_high", "num_pairs", "num_episodes", "step_norm")


def _with_trial_counts(table: pd.DataFrame) -> pd.DataFrame:
    """The mean rows of a probe table, each with ``n_trials``: how many trial rows its interval
    is over (NaN where the probe wrote no trial rows, e.g. the landscape's points)."""
    keys = [c for c in table.columns if c not in _MEASURED]
    counts = (
        table[table["trial"] != MEAN_TRIAL]
        .groupby(keys, dropna=False)
        .size()
        .rename("n_trials")
        .reset_index()
    )
    means = table[table["trial"] == MEAN_TRIAL]
    return means.merge(counts, on=keys, how="left").reset_index(drop=True)


def mean_band(matrix: np.ndarray, confidence: float = 0.95):
    """Per column of ``matrix`` (rows = runs): mean and the t-interval of the mean across runs
    (``analysis.stats``' declared interval for a mean over seeds), vectorized over columns.
    Columns with missing values or fewer than 2 runs get no band."""
    mean = np.nanmean(matrix, axis=0)
    low = np.full(matrix.shape[1], np.nan)
    high = low.copy()
    full = ~np.isnan(matrix).any(axis=0)
    n = matrix.shape[0]
    if n >= 2 and full.any():
        half = (
            stats.t.ppf((1 + confidence) / 2, n - 1)
            * matrix[:, full].std(axis=0, ddof=1)
            / np.sqrt(n)
        )
        low[full], high[full] = mean[full] - half, mean[full] + half
    return mean, low, high


def trial_band(group: pd.DataFrame, x: str, seed: int = 0) -> pd.DataFrame:
    """Per ``x`` value: mean of ``value`` and its interval (``estimate_interval``: one agent's
    own over its trials, else the t-interval over the agents at that x)."""
    out = [(xv, *estimate_interval(rows, seed)[:3]) for xv, rows in group.groupby(x, sort=True)]
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


# --- axes ----------------------------------------------------------------------------------------
def plain_number(value: float, _pos=None) -> str:
    """A tick label as one would write it: 0.02, 1.5, 300, 1e-5 (never 1.2×10⁰)."""
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


class NaturalLogLocator(Locator):
    """Major ticks of a log axis at numbers people read: powers of ten over several decades,
    1-2-5 or 1-2-3-5 × 10ᵏ over a few, and evenly spaced round numbers when even those give
    fewer than ``min_ticks`` (a range like 1.2–2.4). Ticks never crowd: 0.8, 0.9, 1, 2 is not
    offered."""

    def __init__(self, min_ticks: int = 3, max_ticks: int = 8):
        self.min_ticks, self.max_ticks = min_ticks, max_ticks

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if not vmax > 0:
            return []
        vmin = max(vmin, vmax * 1e-12)
        low, high = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
        for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5)):
            ticks = [float(f"{m}e{e}") for e in range(low, high + 1) for m in mantissas]
            ticks = [t for t in ticks if vmin <= t <= vmax]
            if len(ticks) > self.max_ticks:  # many decades: every k-th power of ten
                ticks = ticks[:: math.ceil(len(ticks) / self.max_ticks)]
            if len(ticks) >= self.min_ticks:
                return ticks
        for bins in range(self.min_ticks, self.max_ticks + 1):
            linear = MaxNLocator(nbins=bins, steps=[1, 2, 5, 10]).tick_values(vmin, vmax)
            ticks = [t for t in linear if vmin <= t <= vmax]
            if len(ticks) >= self.min_ticks:
                break
        return ticks


def log_axis(ax, axis: str = "y", base: float = 10) -> None:
    """A log scale whose labelled ticks read naturally (`NaturalLogLocator`, `plain_number`);
    matplotlib's own labels a narrow range with minor ticks like 1.2×10⁰ and 2.4×10⁰ only."""
    getattr(ax, f"set_{axis}scale")("log", base=base)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(NaturalLogLocator())
    target.set_major_formatter(FuncFormatter(plain_number))
    target.set_minor_locator(LogLocator(base=base, subs="auto"))
    target.set_minor_formatter(NullFormatter())


def steps_label(steps: float, _pos=None) -> str:
    """Env steps as 0, 500, 2.5k, 1M."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(steps) >= scale:
            return f"{steps / scale:.4g}{suffix}"
    return f"{steps:.4g}"


def _whole_numbers() -> MaxNLocator:
    """Ticks at integers only, even on a short range (one tick rather than 0.5 iterations)."""
    return MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True, min_n_ticks=1)


def steps_axis(ax, steps_per_iter) -> None:
    """The x-axis every figure over training shares: env steps, with the iteration on top when
    all runs drawn take the same steps per iteration (iterations then count in whole numbers)."""
    ax.set_xlabel("env steps")
    ax.xaxis.set_major_locator(_whole_numbers())
    ax.xaxis.set_major_formatter(FuncFormatter(steps_label))
    per_iter = pd.Series(steps_per_iter, dtype=float).dropna().unique()
    if len(per_iter) == 1 and per_iter[0] > 0:
        n = float(per_iter[0])
        top = ax.secondary_xaxis("top", functions=(lambda s: s / n, lambda i: i * n))
        top.set_xlabel("iteration", fontsize=8)
        top.xaxis.set_major_locator(_whole_numbers())
        top.tick_params(labelsize=7)


def steps_per_iter(runs, run_ids) -> pd.Series:
    """algo.steps_per_iter of the given runs (empty when the configs do not say)."""
    configs = runs.configs
    if "algo.steps_per_iter" not in configs:
        return pd.Series(dtype=float)
    return configs.loc[configs["run_id"].isin(set(run_ids)), "algo.steps_per_iter"]
