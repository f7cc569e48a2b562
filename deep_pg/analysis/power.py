"""What a comparison's sample could detect, and what a difference would need (statsmodels'
t-test power, α = 0.05 two-sided, power 0.8).

For a comparison of two groups of independent units (two algorithms' seeds, tuned agents with a
toggle on and off) the two-sample t-test (``TTestIndPower``, equal groups at the smaller n,
the pooled standard deviation); for a difference measured within units (a toggle's paired effect
per seed, the gap between two baselines per agent, a change between checkpoints per agent) the
one-sample t-test on those differences (``TTestPower``). ``min_detectable`` turns the smallest
detectable effect size into the comparison's own units (× the standard deviation);
``units_needed`` is the n per group at which the observed difference would be detected with
power 0.8. So "3 seeds cannot pin the mean" becomes "3 seeds detect 2,100, this difference of 700
needs 21".
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import integrate, stats
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.tools import sm_exceptions  # noqa: F401  imported here, not first inside

# _solve or _power: on import it puts an "always" filter for its warnings ahead of their "ignore"

ALPHA = 0.05
POWER = 0.8
MAX_UNITS = 10_000  # beyond this the answer is "more than we will ever run"
COLUMNS = ["comparison", "n", "unit", "sd", "difference", "min_detectable", "units_needed"]


def _solve(paired: bool, **known) -> float:
    """statsmodels' solve_power for the one-sample (``paired``) or two-sample t-test, with the
    sample size passed as ``n`` (``nobs`` / ``nobs1`` there)."""
    n = known.pop("n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if paired:
            return TTestPower().solve_power(nobs=n, alpha=ALPHA, power=POWER, **known)
        return TTestIndPower().solve_power(nobs1=n, alpha=ALPHA, power=POWER, **known)


def min_detectable(sd: float, n: int, paired: bool) -> float:
    """The smallest true difference a two-sided t-test at α = 0.05 detects with power 0.8 over
    ``n`` units (per group when not ``paired``), in the units of ``sd``; NaN below n = 2."""
    if n < 2 or not np.isfinite(sd):
        return np.nan
    return float(np.asarray(_solve(paired, n=n, effect_size=None), float).item() * sd)


def units_needed(difference: float, sd: float, paired: bool) -> float:
    """The n (per group when not ``paired``) at which ``difference`` is detected with power 0.8,
    rounded up; NaN when there is no difference or spread to plan with, ``MAX_UNITS`` when the
    difference is too small to detect in any study one would run."""
    if not (np.isfinite(difference) and np.isfinite(sd)) or difference == 0 or sd <= 0:
        return np.nan
    effect = abs(difference) / sd
    # the z-test's n is a lower bound (a t-test needs more units); count up from it
    z = stats.norm.isf(ALPHA / 2) + stats.norm.isf(1 - POWER)
    n = max(2, math.floor((z / effect) ** 2 * (1 if paired else 2)))
    while n < MAX_UNITS and _power(paired, effect, n) < POWER:
        n += 1
    return float(min(n, MAX_UNITS))


def _power(paired: bool, effect: float, n: int) -> float:
    """The power of the t-test at ``effect`` (in sds) with ``n`` units (per group):
    statsmodels', or where its noncentral t returns NaN the same probability integrated over
    the quantiles of the chi-square of the variance estimate with scipy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if paired:
            power = TTestPower().power(effect_size=effect, nobs=n, alpha=ALPHA)
        else:
            power = TTestIndPower().power(effect_size=effect, nobs1=n, alpha=ALPHA)
    power = float(np.asarray(power, float).item())
    if np.isfinite(power):
        return power
    df = n - 1 if paired else 2 * n - 2
    shift = effect * math.sqrt(n if paired else n / 2)  # the noncentrality
    critical = stats.t.isf(ALPHA / 2, df)

    def rejected(u: float) -> float:  # P(|t| > critical) at the u-quantile of the variance
        edge = critical * math.sqrt(stats.chi2.ppf(u, df) / df)
        return stats.norm.sf(edge - shift) + stats.norm.cdf(-edge - shift)

    return float(integrate.quad(rejected, 0, 1, limit=200)[0])


def two_groups(x, y, comparison: str, unit: str) -> dict:
    """The power row of a comparison of two groups of independent units (difference x − y)."""
    x, y = (np.asarray(v, float) for v in (x, y))
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    n = min(len(x), len(y))
    if n < 2:
        sd = np.nan
    else:
        sd = math.sqrt(
            ((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / (len(x) + len(y) - 2)
        )
    difference = float(x.mean() - y.mean()) if n else np.nan
    return {
        "comparison": comparison,
        "n": n,
        "unit": f"{unit} per group",
        "sd": sd,
        "difference": difference,
        "min_detectable": min_detectable(sd, n, paired=False),
        "units_needed": units_needed(difference, sd, paired=False),
    }


def within_units(differences, comparison: str, unit: str) -> dict:
    """The power row of a difference measured within each unit (one value per unit)."""
    d = np.asarray(differences, float)
    d = d[~np.isnan(d)]
    sd = float(d.std(ddof=1)) if len(d) >= 2 else np.nan
    difference = float(d.mean()) if len(d) else np.nan
    return {
        "comparison": comparison,
        "n": len(d),
        "unit": unit,
        "sd": sd,
        "difference": difference,
        "min_detectable": min_detectable(sd, len(d), paired=True),
        "units_needed": units_needed(difference, sd, paired=True),
    }


def power_text(table: pd.DataFrame, limit: int | None = None) -> str:
    """The power table as lines for a terminal: what each comparison's n detects and what its
    observed difference would need."""
    lines = []
    for row in table.head(limit).itertuples(index=False):
        needed = (
            "-"
            if not np.isfinite(row.units_needed)
            else f">{MAX_UNITS:,}"
            if row.units_needed >= MAX_UNITS
            else f"{row.units_needed:,.0f}"
        )
        lines.append(
            f"  {row.comparison}: n={row.n} {row.unit} detects "
            f"{row.min_detectable:,.3g} (observed {row.difference:,.3g}, "
            f"sd {row.sd:,.3g}; needs {needed})"
        )
    if limit is not None and len(table) > limit:
        lines.append(f"  ... and {len(table) - limit} more (power.csv)")
    return "\n".join(lines)
