"""95% bootstrap confidence intervals: the one implementation behind every interval deep_pg
reports (probe tables, the report's tables and figures), by scipy.stats.bootstrap (a maintained
implementation). Torch-free, so the analysis uses it without loading torch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000


def interval(
    samples: Sequence[np.ndarray],
    statistic: Callable = np.mean,
    n_resamples: int = RESAMPLES,
    seed: int = 0,
    method: str = "percentile",
    axis: int = -1,
    confidence: float = CONFIDENCE,
    paired: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of ``statistic`` over independent ``samples`` (or, ``paired``, samples whose
    i-th elements are resampled together, as for a correlation), vectorized along ``axis`` (one
    interval per other index: e.g. per column of a runs x iterations matrix). The caller makes
    sure every sample has spread; the seed fixes the resamples (reproducible)."""
    res = stats.bootstrap(
        samples,
        statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method=method,
        vectorized=True,
        paired=paired,
        axis=axis,
        rng=np.random.default_rng(seed),
    )
    return res.confidence_interval.low, res.confidence_interval.high


def bootstrap_ci(
    samples: Sequence[np.ndarray],
    statistic: Callable = np.mean,
    n_resamples: int = RESAMPLES,
    seed: int = 0,
    method: str = "percentile",
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """(point estimate, CI low, CI high) of ``statistic`` over one or more independent samples,
    NaNs left out.

    With fewer than two values per sample, or no spread, the interval is the point itself
    (a bootstrap cannot say more). ``method`` is scipy's: percentile (default: defined for any
    data, even tiny seed counts) or BCa (better coverage for skewed data, needs spread)."""
    samples = [np.asarray(s, float)[~np.isnan(np.asarray(s, float))] for s in samples]
    if any(len(s) == 0 for s in samples):
        return np.nan, np.nan, np.nan
    point = float(statistic(*samples, axis=-1))
    if any(len(s) < 2 for s in samples) or all(np.ptp(s) == 0 for s in samples):
        return point, point, point
    low, high = interval(samples, statistic, n_resamples, seed, method, confidence=confidence)
    return point, float(low), float(high)
