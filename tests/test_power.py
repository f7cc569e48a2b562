"""deep_pg.analysis.power: what a comparison's n detects and what a difference needs, from
statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import TTestIndPower, TTestPower

from deep_pg.analysis.power import (
    MAX_UNITS,
    min_detectable,
    power_text,
    two_groups,
    units_needed,
    within_units,
)


def test_the_smallest_detectable_difference_is_statsmodels_effect_size_in_the_data_units():
    effect = TTestIndPower().solve_power(nobs1=3, alpha=0.05, power=0.8)
    assert min_detectable(100.0, 3, paired=False) == pytest.approx(effect * 100)
    effect = TTestPower().solve_power(nobs=3, alpha=0.05, power=0.8)
    assert min_detectable(0.1, 3, paired=True) == pytest.approx(effect * 0.1)
    assert min_detectable(1.0, 10, paired=True) < min_detectable(1.0, 3, paired=True)
    assert np.isnan(min_detectable(1.0, 1, paired=True))


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("n", [3, 5, 12])
def test_the_units_a_difference_needs_undo_the_smallest_detectable_one(paired, n):
    difference = min_detectable(2.0, n, paired)
    assert units_needed(difference, 2.0, paired) == n
    assert units_needed(difference * 1.01, 2.0, paired) == n  # a bit more: no more units
    assert units_needed(difference * 0.8, 2.0, paired) > n


def test_huge_and_tiny_differences_have_answers_without_the_solver():
    assert units_needed(100.0, 1.0, paired=True) == 2
    assert units_needed(6.2, 1.0, paired=True) == 3  # where statsmodels' solver gives up
    assert units_needed(1e-6, 1.0, paired=True) == MAX_UNITS
    assert np.isnan(units_needed(0.0, 1.0, paired=True)) and np.isnan(units_needed(1, 0, True))


def test_rows_of_two_groups_and_of_differences_within_units():
    row = two_groups([1800, 2600, 900], [2000, 2200, 1900], "final return", "seeds")
    pooled = np.sqrt((np.var([1800, 2600, 900], ddof=1) + np.var([2000, 2200, 1900], ddof=1)) / 2)
    assert row["n"] == 3 and row["unit"] == "seeds per group"
    assert row["sd"] == pytest.approx(pooled) and row["difference"] == pytest.approx(-266.67, 1e-3)
    assert row["min_detectable"] == pytest.approx(min_detectable(pooled, 3, paired=False))
    row = within_units([0.1, 0.2, 0.15], "gap", "agents")
    assert row["n"] == 3 and row["sd"] == pytest.approx(0.05) and row["units_needed"] == 4
    text = power_text(pd.DataFrame([row, within_units([1.0, -1.0, 0.05], "tiny", "agents")]))
    assert "gap: n=3 agents detects 0.163" in text and "needs 4)" in text
    assert "needs >10,000" in text
