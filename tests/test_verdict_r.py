"""The pre-registered R rule (docs/preregistration.md) as deep_pg.analysis.verdict_r implements it,
checked against scipy's own intervals, hand-made cases and a simulation of the tests' power."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from deep_pg.analysis import verdict_r as v


def test_t_interval_is_scipys_student_t_interval():
    x = np.array([1800.0, 2400.0, 2650.0, 900.0, 2100.0, 3000.0])
    mean, low, high = v.t_interval(x)
    expected = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean())
    assert (low, high) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (900.0, 1100.0, "reproduced"),  # P = 1000 inside, half-width 100 <= 200
        (500.0, 1500.0, "inconclusive"),  # inside, half-width 500 > 200
        (700.0, 940.0, "below"),  # high < 950
        (700.0, 960.0, "inconclusive"),  # misses P by 40 < 5%
        (1060.0, 1200.0, "above"),  # low > 1050
        (1040.0, 1200.0, "inconclusive"),
    ],
)
def test_verdict_follows_the_preregistered_rule(low, high, expected):
    assert v.verdict(1000.0, low, high) == expected


def test_cells_with_fewer_than_five_runs_get_no_verdict():
    assert v.cell([1000.0, 1010.0, 990.0, 1005.0], 1000.0).verdict == "too few runs"
    assert v.cell([1000.0, 1010.0, 990.0, 1005.0, 995.0], 1000.0).verdict == "reproduced"


def _rejection_rate(n: int, sd: float, difference: float, trials: int = 40_000) -> float:
    """Fraction of one-sample t-tests (two-sided, 5%) that reject mean = 0 when it is
    ``difference``: a simulation, independent of the noncentral-t formula under test."""
    rng = np.random.default_rng(0)
    x = rng.normal(difference, sd, size=(trials, n))
    t = x.mean(1) / (x.std(1, ddof=1) / np.sqrt(n))
    return float((np.abs(t) > stats.t.ppf(0.975, n - 1)).mean())


@pytest.mark.parametrize("n", [5, 10, 20])
def test_detectable_difference_has_the_stated_power(n):
    d = v.detectable_difference(730.0, n)
    assert _rejection_rate(n, 730.0, d) == pytest.approx(0.8, abs=0.01)
    assert _rejection_rate(n, 730.0, 0.8 * d) < 0.75  # a smaller difference is detected less often


def test_seeds_needed_is_the_smallest_n_with_the_stated_power():
    n = v.seeds_needed(730.0, 251.3)
    assert v.detectable_difference(730.0, n) <= 251.3 < v.detectable_difference(730.0, n - 1)


def test_welch_matches_scipys_welch_test():
    a = np.array([2900.0, 2500.0, 3100.0, 2750.0, 2600.0, 2950.0])
    b = np.array([2100.0, 2600.0, 1500.0, 2400.0, 2000.0, 2300.0, 1900.0])
    w = v.welch(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (w.low, w.high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert w.verdict == "higher" and v.welch(b, a).verdict == "lower"
    assert v.welch(a, a + 1.0).verdict == "no difference detected"


def test_r_tables_group_by_setting_version_and_algorithm():
    rng = np.random.default_rng(1)
    rows = []
    for algo, centre in (("ppo", 2500.0), ("ppo_m", 1500.0)):
        for seed in range(100, 106):
            rows.append(
                {
                    "algo": algo,
                    "env": "hopper",
                    "env_id": "Hopper-v4",
                    "seed": seed,
                    "status": "completed",
                    "final_return": centre + rng.normal(0, 100),
                    "env.reset_each_iteration": True,
                    "opt.grad_clip_scope": "ppo_policy",
                    "env.timeout_bootstrap": False,
                }
            )
    rows.append({**rows[0], "seed": 106, "status": "failed", "final_return": np.nan})
    cells, pairs = v.r_tables(pd.DataFrame(rows))
    ppo = cells.set_index("algo").loc["ppo"]
    assert (ppo.preset, ppo.n, ppo.failed, ppo.published) == ("released", 6, 1, 2513.0)
    assert ppo.verdict == "reproduced"
    assert cells.set_index("algo").loc["ppo_m"].verdict == "below"
    (pair,) = pairs.itertuples()
    assert pair.comparison == "ppo - ppo_m" and pair.verdict == "higher"
