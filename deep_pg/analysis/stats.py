"""Interval estimates for the report, from maintained libraries where one does the job.

The methods, declared once (docs/reproduction.md, "Methods"):

- a mean over independent units (seeds, agents) gets a Student t-interval
  (``scipy.stats.ttest_1samp(...).confidence_interval``): with 3 seeds the percentile bootstrap
  returns about the seeds' range, whose coverage is far below 95%;
- the IQM, the median and the probability of improvement over 5 or more units get a BCa
  bootstrap interval (``scipy.stats.bootstrap``, 2,000 resamples, seed 0), a percentile one below
  that (BCa needs spread to correct for) or where BCa is undefined;
- data with two levels (pairs of runs within seeds) get ``hierarchical_interval``: seeds
  resampled first, then pairs within each seed; scipy has no hierarchical bootstrap.

Every interval carries a label naming its method and n (``interval_label``). An interval over
fewer than ``MIN_UNITS_FOR_95`` independent units is computed at the nominal 95% level but never
labelled 95%: its coverage rests on assumptions (normal seeds) that so few units cannot check.

rliable (Agarwal et al., "Deep Reinforcement Learning at the Edge of the Statistical Precipice",
NeurIPS 2021, arXiv 2108.13264) computes the same aggregate metrics, but its release pins
``arch<8``, and arch 7 does not import with pandas 3; the IQM, the probability of improvement and
the performance profile here are its definitions computed with scipy.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from deep_pg import bootstrap
from deep_pg.bootstrap import bootstrap_ci  # noqa: F401  (the plain bootstrap, re-exported)

CONFIDENCE = 0.95
RESAMPLES = 2000
MIN_UNITS_FOR_95 = 5  # fewer independent units: an interval is never called 95%


def interval_label(method: str, n: int, unit: str = "") -> str:
    """What an interval is over, e.g. ``t, n=3 seeds`` or ``95% BCa, n=16 agents``: "95%" only
    from ``MIN_UNITS_FOR_95`` units up, and ``no interval`` for a single one."""
    what = f"n={n}" + (f" {unit}" if unit else "")
    if n < 2:
        return f"no interval, {what}"
    return f"{'95% ' if n >= MIN_UNITS_FOR_95 else ''}{method}, {what}"


def _clean(values) -> np.ndarray:
    values = np.asarray(values, float)
    return values[~np.isnan(values)]


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high): the Student t-interval of the mean of independent ``values``; NaN
    bounds for fewer than two, the mean itself when they do not vary."""
    values = _clean(values)
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, np.nan, np.nan
    if np.ptp(values) == 0:
        return mean, mean, mean
    ci = stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
    return mean, float(ci.low), float(ci.high)


def mean_interval(values, unit: str = "seeds") -> tuple[float, float, float, str]:
    """The declared interval of a mean over independent units: ``t_interval`` and its label."""
    values = _clean(values)
    return (*t_interval(values), interval_label("t", len(values), unit))


def bootstrap_interval(
    samples: Sequence,
    statistic: Callable,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    n_resamples: int = RESAMPLES,
    unit: str = "",
) -> tuple[float, float, float, str]:
    """(point, low, high, label) of ``statistic(*samples, axis=-1)`` over independent samples
    by ``scipy.stats.bootstrap``: BCa when every sample has ``MIN_UNITS_FOR_95`` values or more,
    else (or where BCa is undefined) the percentile method. NaNs are left out."""
    samples = [_clean(s) for s in samples]
    n = min(len(s) for s in samples)  # the smallest sample bounds what an interval says
    if n == 0:
        return np.nan, np.nan, np.nan, interval_label("", 0, unit)
    point = float(statistic(*samples, axis=-1))
    if n < 2 or all(np.ptp(s) == 0 for s in samples):
        return point, point, point, interval_label("no spread", n, unit)
    methods = ("BCa", "percentile") if n >= MIN_UNITS_FOR_95 else ("percentile",)
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a degenerate BCa comes back as NaN: fall back
            low, high = (
                float(bound)
                for bound in bootstrap.interval(
                    samples, statistic, n_resamples, seed, method, confidence=confidence
                )
            )
        if np.isfinite(low) and np.isfinite(high):
            return point, low, high, interval_label(f"{method} bootstrap", n, unit)
    return point, np.nan, np.nan, interval_label("undefined", n, unit)


def hierarchical_interval(
    values,
    groups,
    statistic: Callable = np.mean,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    n_resamples: int = RESAMPLES,
) -> tuple[float, float, float, str]:
    """(point, low, high, label) of ``statistic(values, axis=-1)`` over ``values`` nested in
    ``groups`` (pairs within seeds): each resample draws the groups with replacement, then each
    drawn group's values with replacement (percentile interval). The independent units are the
    groups, so the label counts them; with one group the interval is over its values alone."""
    values = np.asarray(values, float)
    groups = np.asarray(groups)
    keep = ~np.isnan(values)
    values, groups = values[keep], groups[keep]
    if len(values) == 0:
        return np.nan, np.nan, np.nan, "no values"
    point = float(statistic(values, axis=-1))
    members = [values[groups == g] for g in pd.unique(groups)]
    if len(members) == 1:
        _, low, high, _ = bootstrap_interval([values], statistic, seed=seed, confidence=confidence)
        return (
            point,
            low,
            high,
            interval_label("percentile bootstrap", len(values), "pairs (one seed)"),
        )
    rng = np.random.default_rng(seed)
    drawn = rng.integers(len(members), size=(n_resamples, len(members)))
    sizes = {len(m) for m in members}
    if len(sizes) == 1:  # equal groups: one array of resamples
        size = sizes.pop()
        table = np.stack(members)  # groups x members
        picks = rng.integers(size, size=(n_resamples, len(members), size))
        resampled = table[drawn[..., None], picks].reshape(n_resamples, -1)
        out = statistic(resampled, axis=-1)
    else:
        out = np.array(
            [
                statistic(
                    np.concatenate(
                        [
                            members[g][rng.integers(len(members[g]), size=len(members[g]))]
                            for g in row
                        ]
                    )
                )
                for row in drawn
            ]
        )
    alpha = (1 - confidence) / 2
    low, high = np.quantile(out, [alpha, 1 - alpha])
    label = f"hierarchical bootstrap, {len(members)} seeds × {len(values) // len(members)} pairs"
    return point, float(low), float(high), label


def unit_means(rows: pd.DataFrame, unit: str = "run_id") -> pd.DataFrame:
    """One row per ``unit`` (an agent) of probe rows: ``value``, ``ci_low``, ``ci_high`` and
    ``interval`` of its estimate. A unit with one row keeps that row's own interval (a probe's
    mean over its trials: a percentile bootstrap over ``n_trials`` trials); a unit with several
    rows (trial rows) gets their mean and the t-interval over them."""
    columns = [unit, "value", "ci_low", "ci_high", "interval"]
    if rows[unit].is_unique:  # one estimate per agent, the usual case: no grouping needed
        low = rows["ci_low"] if "ci_low" in rows else pd.Series(np.nan, index=rows.index)
        high = rows["ci_high"] if "ci_high" in rows else pd.Series(np.nan, index=rows.index)
        trials = rows["n_trials"] if "n_trials" in rows else pd.Series(np.nan, index=rows.index)
        labels = [_own_label(own, n) for own, n in zip(low.notna(), trials)]
        out = pd.DataFrame(
            {
                unit: rows[unit].to_numpy(),
                "value": rows["value"].to_numpy(float),
                "ci_low": low.to_numpy(float),
                "ci_high": high.to_numpy(float),
                "interval": labels,
            }
        )
        return out.sort_values(unit, kind="stable").reset_index(drop=True)[columns]
    out = []
    for key, part in rows.groupby(unit, sort=True):
        if len(part) == 1:
            out.append(unit_means(part, unit).iloc[0].to_dict())
        else:
            mean, low, high, label = mean_interval(part["value"], unit="trials")
            out.append(
                {unit: key, "value": mean, "ci_low": low, "ci_high": high, "interval": label}
            )
    return pd.DataFrame(out, columns=columns)


def _own_label(own: bool, n_trials: float) -> str:
    """The label of one estimate's own interval (a probe's, over its trials)."""
    if not own:
        return "no interval"
    if pd.isna(n_trials):
        return "the probe's own interval"
    return interval_label("percentile bootstrap", int(n_trials), "trials")


def estimate_with_label(
    rows: pd.DataFrame, unit: str = "run_id"
) -> tuple[float, float, float, bool, str]:
    """Mean over the agents (``unit``) of probe rows, its interval, whether it is one agent's
    own, and its label: with one agent, its own estimate's interval (over its trials,
    ``unit_means``); with several, the t-interval over the agents' means, so that
    agent-to-agent variation is in it."""
    if unit not in rows:
        rows = rows.assign(**{unit: np.arange(len(rows))})  # each row its own unit
    agents = unit_means(rows, unit)
    if len(agents) == 1:
        one = agents.iloc[0]
        return (
            float(one["value"]),
            float(one["ci_low"]),
            float(one["ci_high"]),
            True,
            f"{one['interval']} (one agent)",
        )
    point, low, high, label = mean_interval(agents["value"], unit="agents")
    return point, low, high, False, label


def estimate_interval(
    rows: pd.DataFrame, seed: int = 0, unit: str = "run_id"
) -> tuple[float, float, float, bool]:
    """``estimate_with_label`` without the label (``seed``: unused, kept for callers)."""
    return estimate_with_label(rows, unit)[:4]


def estimate_label(rows: pd.DataFrame, unit: str = "run_id") -> str:
    """The label of ``estimate_interval(rows)``'s interval."""
    return estimate_with_label(rows, unit)[4]


def iqm(values, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of values (rliable's aggregate_iqm)."""
    return stats.trim_mean(values, 0.25, axis=axis)


def probability_of_improvement(x, y, axis: int = -1) -> np.ndarray:
    """P(X > Y) + ½·P(X = Y) for a random run X of one group and Y of the other: the
    Mann–Whitney U statistic of ``scipy.stats.mannwhitneyu`` divided by n·m (0.5 = no
    difference)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    u = stats.mannwhitneyu(x, y, axis=axis, method="asymptotic").statistic
    return u / (x.shape[axis] * y.shape[axis])


def performance_profile(values, thresholds, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """The fraction of runs scoring above each threshold (rliable's performance profile: one
    minus the empirical CDF) with its pointwise interval from ``scipy.stats.ecdf`` (Greenwood's
    formula, log-log transformed). Columns: threshold, fraction, low, high."""
    values = _clean(values)
    thresholds = np.asarray(thresholds, float)
    fraction = (values[None, :] > thresholds[:, None]).mean(axis=1)
    low = high = np.full(len(thresholds), np.nan)
    if len(values) >= 2 and np.ptp(values) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined at the ends, by the formula
            ci = stats.ecdf(values).sf.confidence_interval(confidence, method="log-log")
            low, high = ci.low.evaluate(thresholds), ci.high.evaluate(thresholds)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "fraction": fraction,
            "low": np.where(np.isnan(low), fraction, low),
            "high": np.where(np.isnan(high), fraction, high),
        }
    )


def summarize(values, seed: int = 0, unit: str = "seeds") -> dict[str, float | str]:
    """n, sd, mean with its t-interval, median, and IQM with its bootstrap interval, each
    interval with its label (``<name>_interval``)."""
    values = _clean(values)
    mean, low, high, label = mean_interval(values, unit)
    out: dict[str, float | str] = {
        "n": len(values),
        "mean": mean,
        "mean_low": low,
        "mean_high": high,
        "mean_interval": label,
        "sd": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
        "median": float(np.median(values)) if len(values) else np.nan,
    }
    point, low, high, label = bootstrap_interval([values], iqm, seed=seed, unit=unit)
    out.update({"iqm": point, "iqm_low": low, "iqm_high": high, "iqm_interval": label})
    return out


def compare_groups(
    frame: pd.DataFrame,
    group: str,
    value: str = "final_return",
    by: Sequence[str] = ("env",),
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per ``by`` cell (e.g. each env): a summary row per group (e.g. algorithm) and the
    probability of improvement with its bootstrap interval for every ordered pair of groups."""
    rows, pairs = [], []
    for keys, cell in frame.dropna(subset=[value]).groupby(list(by), sort=True):
        keys = dict(zip(by, keys if isinstance(keys, tuple) else (keys,)))
        samples = {g: part[value].to_numpy() for g, part in cell.groupby(group, sort=True)}
        for g, vals in samples.items():
            rows.append({**keys, group: g, **summarize(vals, seed=seed)})
        for a in samples:
            for b in samples:
                if a == b:
                    continue
                p, low, high, label = bootstrap_interval(
                    [samples[a], samples[b]],
                    probability_of_improvement,
                    seed=seed,
                    unit="seeds each",
                )
                pairs.append(
                    {
                        **keys,
                        "x": a,
                        "y": b,
                        "p_x_better": p,
                        "p_low": low,
                        "p_high": high,
                        "p_interval": label,
                        "n_x": len(samples[a]),
                        "n_y": len(samples[b]),
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(pairs)
