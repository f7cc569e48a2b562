"""Statistics for comparing training outcomes, in the style of Agarwal et al. (2021),
"Deep RL at the edge of the statistical precipice": interval estimates over point estimates,
the interquartile mean (robust to the outlier seeds RL produces) and the probability of
improvement. Intervals: ``deep_pg.bootstrap`` (the one implementation the probes use too)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from deep_pg.bootstrap import bootstrap_ci


def estimate_interval(rows: pd.DataFrame, seed: int = 0) -> tuple[float, float, float, bool]:
    """Mean of ``rows["value"]`` and its 95% interval: the probe's own (``ci_low``, ``ci_high``)
    when the rows are one estimate that carries one, else a bootstrap over the rows (trials or
    runs). The last item says whether the probe's own interval was used."""
    values = rows["value"].to_numpy(float)
    if len(rows) == 1 and "ci_low" in rows and pd.notna(rows["ci_low"].iloc[0]):
        return float(values[0]), float(rows["ci_low"].iloc[0]), float(rows["ci_high"].iloc[0]), True
    point, low, high = bootstrap_ci([values], seed=seed)
    return point, low, high, False


def iqm(values, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of values."""
    return stats.trim_mean(values, 0.25, axis=axis)


def probability_of_improvement(x, y, axis: int = -1) -> np.ndarray:
    """P(X > Y) + ½·P(X = Y) for a random run X of one group and Y of the other: the
    Mann–Whitney U statistic divided by n·m (0.5 = no difference)."""
    x = np.expand_dims(np.moveaxis(np.asarray(x, float), axis, -1), -1)
    y = np.expand_dims(np.moveaxis(np.asarray(y, float), axis, -1), -2)
    return ((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1))


def summarize(values, seed: int = 0) -> dict[str, float]:
    """n, mean, median and IQM, each of the last three with a 95% bootstrap CI."""
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    out: dict[str, float] = {"n": len(values)}
    for name, fn in (("mean", np.mean), ("median", np.median), ("iqm", iqm)):
        point, low, high = bootstrap_ci([values], fn, seed=seed)
        out.update({name: point, f"{name}_low": low, f"{name}_high": high})
    return out


def compare_groups(frame: pd.DataFrame, group: str, value: str = "final_return",
                   by: Sequence[str] = ("env",), seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per ``by`` cell (e.g. each env): a summary row per group (e.g. algorithm) and the
    probability of improvement with CI for every ordered pair of groups."""
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
                p, low, high = bootstrap_ci([samples[a], samples[b]], probability_of_improvement,
                                            seed=seed)
                pairs.append({**keys, "x": a, "y": b, "p_x_better": p, "p_low": low,
                              "p_high": high, "n_x": len(samples[a]), "n_y": len(samples[b])})
    return pd.DataFrame(rows), pd.DataFrame(pairs)
