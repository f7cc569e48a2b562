"""The landscape probe's grids as numbers (deep_pg/analysis/landscape_summary.py): a noisier
low-sample landscape ranks the grid's points worse, the surrogate's ranking is compared with the
accurate return's, and the step's gain is read off the grid with the two points' intervals
combined."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from deep_pg.analysis.landscape_summary import landscape_measures, landscape_tables
from deep_pg.analysis.settings import ONLY_SETTING

COEFS = np.linspace(0, 3, 7)  # the probe's default grid: 0, 0.5, ..., 3


def _grid(measure, sample_count, value_of, half_width=1.0, step_samples=2048, coefs=COEFS):
    """Landscape probe rows of one run: value_of(a, b) at every grid point (a: step, b: random)."""
    return [
        dict(
            run_id="r0",
            env="hopper",
            algo="ppo",
            setting=ONLY_SETTING,
            iteration=150,
            step_samples=step_samples,
            measure=measure,
            sample_count=sample_count,
            step_coef=a,
            random_coef=b,
            value=(v := value_of(a, b)),
            ci_low=v - half_width,
            ci_high=v + half_width,
        )
        for a in coefs
        for b in coefs
    ]


def _true(a, b):
    """A smooth landscape: better along the step, worse along the random direction."""
    return 1000 + 100 * a - 80 * b**2


def _measure(measures, name, sample_count=None):
    rows = measures[measures["measure"] == name]
    if sample_count is not None:
        rows = rows[rows["sample_count"] == sample_count]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_a_noisier_landscape_ranks_the_grid_points_worse():
    rng = np.random.default_rng(0)
    rows = (
        _grid("return", 100000, _true)
        + _grid("return", 20000, lambda a, b: _true(a, b) + rng.normal(0, 20))
        + _grid("return", 2000, lambda a, b: _true(a, b) + rng.normal(0, 400))
    )
    measures = landscape_measures(pd.DataFrame(rows))
    low, mid = (_measure(measures, "rank_vs_largest", n) for n in (2000, 20000))
    assert mid["value"] > 0.9 > low["value"]
    for row in (low, mid):
        assert row["ci_low"] <= row["value"] <= row["ci_high"] < 1.0001
    assert low["ci_high"] - low["ci_low"] > mid["ci_high"] - mid["ci_low"]
    assert set(measures["measure"]) == {"rank_vs_largest", "step_gain"}  # no surrogate rows given


@pytest.mark.parametrize("sign", [1, -1])
def test_surrogate_rank_is_the_rank_correlation_with_the_accurate_return(sign):
    rows = (
        _grid("return", 100000, _true)
        + _grid("return", 2000, _true)
        + _grid("surrogate", 2048, lambda a, b: sign * (_true(a, b) / 1000) ** 3)
    )
    measures = landscape_measures(pd.DataFrame(rows))
    aligned = _measure(measures, "surrogate_rank")
    assert aligned["value"] == pytest.approx(sign)  # a monotone transform ranks alike
    assert aligned["sample_count"] == 100000  # compared with the largest count


def test_step_gain_is_the_return_one_step_out_minus_the_origin():
    rows = _grid("return", 100000, _true, half_width=3.0) + _grid("return", 2000, _true)
    rows = [
        dict(r, ci_high=r["ci_high"] + 1)
        if (r["step_coef"], r["random_coef"]) == (1.0, 0.0) and r["sample_count"] == 100000
        else r
        for r in rows
    ]  # that point: half-width 3.5
    gain = _measure(landscape_measures(pd.DataFrame(rows)), "step_gain")
    assert gain["value"] == pytest.approx(100)  # _true(1, 0) - _true(0, 0)
    # the interval combines the two points' half-widths, 3.5 and 3, in quadrature
    assert gain["ci_high"] - gain["ci_low"] == pytest.approx(2 * np.hypot(3.5, 3.0))


def test_a_grid_without_a_full_step_has_no_step_gain():
    coefs = np.linspace(0, 3, 5)  # 0, 0.75, 1.5, ...: no step coefficient 1
    rows = _grid("return", 100000, _true, coefs=coefs) + _grid("return", 2000, _true, coefs=coefs)
    assert "step_gain" not in set(landscape_measures(pd.DataFrame(rows))["measure"])


def test_each_step_regime_is_its_own_landscape():
    rows = _grid("return", 100000, _true, step_samples=2048) + _grid(
        "return", 100000, lambda a, b: _true(-a, b), step_samples=100000
    )
    gains = landscape_measures(pd.DataFrame(rows)).set_index("step_samples")["value"]
    assert gains[2048] == pytest.approx(100) and gains[100000] == pytest.approx(-100)


def test_the_per_run_table_shows_runs_the_mean_averages_away():
    """Two runs whose surrogates rank the grid oppositely: the mean is 0, each run keeps its
    sign."""
    rows = []
    for seed, sign in ((0, 1), (1, -1)):
        run = (
            _grid("return", 100000, _true)
            + _grid("return", 2000, _true)
            + _grid("surrogate", 2048, lambda a, b, s=sign: s * _true(a, b))
        )
        rows += [dict(r, run_id=f"r{seed}", seed=seed) for r in run]
    summary, per_run = landscape_tables(SimpleNamespace(probes={"landscape": pd.DataFrame(rows)}))
    mean = summary[summary["measure"] == "surrogate_rank"].iloc[0]
    assert mean["n_runs"] == 2 and mean["mean"] == pytest.approx(0) and mean["ci_over"] == "runs"
    runs = per_run[per_run["measure"] == "surrogate_rank"].set_index("seed")
    assert runs["value"].to_dict() == pytest.approx({0: 1.0, 1: -1.0})
    assert list(runs["run_id"]) == ["r0", "r1"]
    assert (per_run["value_low"] <= per_run["value"] + 1e-9).all()
