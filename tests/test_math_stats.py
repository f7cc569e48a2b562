"""The reported intervals, against a plain loop-over-resamples percentile bootstrap written here.

Widths are compared with a tolerance any correct bootstrap (percentile, BCa, stratified) of
these samples meets, and which an interval computed over the wrong axis, or of the wrong
statistic, misses by far."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from deep_pg.analysis.stats import (
    compare_groups,
    estimate_interval,
    iqm,
    probability_of_improvement,
    summarize,
)
from deep_pg.probes.stats import (
    corrected_cosine,
    cosine_matrix,
    cosine_similarity,
    mean_relative_error,
    pairwise_bootstrap_ci,
    pairwise_cosine,
    spearman_brown,
)

# Returns of 12 seeds, skewed by two outliers as RL returns often are.
RETURNS = np.array(
    [812.0, 905.0, 1010.0, 640.0, 1180.0, 955.0, 720.0, 1002.0, 868.0, 1093.0, 150.0, 2400.0]
)
OTHER = np.array([700.0, 610.0, 930.0, 540.0, 805.0, 660.0, 880.0, 760.0, 590.0, 720.0])


def hand_iqm(x) -> float:
    """Mean of the middle half: sorted values without the lowest and highest quarter (scipy's
    and rliable's trimming of floor(n / 4) values from each end)."""
    s, k = sorted(x), len(x) // 4
    middle = s[k : len(s) - k]
    return sum(middle) / len(middle)


def hand_median(x) -> float:
    s, n = sorted(x), len(x)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def hand_probability_of_improvement(x, y) -> float:
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y)
    return wins / (len(x) * len(y))


def loop_interval(samples, statistic, resamples: int = 4000, seed: int = 11) -> tuple[float, float]:
    """95% percentile bootstrap, one resample at a time: each sample resampled with replacement
    on its own."""
    rng = np.random.default_rng(seed)
    values = [
        statistic(*(s[rng.integers(0, len(s), len(s))] for s in samples)) for _ in range(resamples)
    ]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def assert_interval_like(low, high, point, reference):
    ref_low, ref_high = reference
    width, ref_width = high - low, ref_high - ref_low
    assert low <= point <= high
    assert 0.7 < width / ref_width < 1.4, (low, high, reference)
    assert abs((low + high) / 2 - (ref_low + ref_high) / 2) < 0.35 * ref_width


def test_iqm_point_values_and_axis():
    assert float(iqm(RETURNS)) == pytest.approx(hand_iqm(RETURNS))
    rows = np.stack([RETURNS, RETURNS[::-1] * 2.0, RETURNS + 7.0])
    assert iqm(rows, axis=-1) == pytest.approx([hand_iqm(r) for r in rows])
    assert iqm(rows.T, axis=0) == pytest.approx([hand_iqm(r) for r in rows])


@pytest.mark.parametrize("name,statistic", [("mean", lambda x: sum(x) / len(x)), ("iqm", hand_iqm)])
def test_summary_intervals_match_a_loop_bootstrap(name, statistic):
    """Any 95% interval of these statistics over 12 seeds (bootstrap of any kind, or Student's
    t for the mean) is about as wide as the loop bootstrap's and centred near it."""
    out = summarize(RETURNS)
    assert out["n"] == len(RETURNS)
    assert out[name] == pytest.approx(statistic(RETURNS))
    assert out["median"] == pytest.approx(hand_median(RETURNS))
    assert_interval_like(
        out[f"{name}_low"], out[f"{name}_high"], out[name], loop_interval([RETURNS], statistic)
    )


def test_summary_leaves_nans_out():
    out = summarize(np.append(RETURNS, [np.nan, np.nan]))
    assert out["n"] == len(RETURNS) and out["iqm"] == pytest.approx(hand_iqm(RETURNS))


def test_probability_of_improvement_and_its_interval_match_a_loop_bootstrap():
    assert float(probability_of_improvement(RETURNS, OTHER)) == pytest.approx(
        hand_probability_of_improvement(RETURNS, OTHER)
    )
    frame = pd.DataFrame(
        {
            "env": "hopper",
            "algo": ["a"] * len(RETURNS) + ["b"] * len(OTHER),
            "final_return": np.concatenate([RETURNS, OTHER]),
        }
    )
    rows, pairs = compare_groups(frame, "algo")
    assert list(rows["algo"]) == ["a", "b"] and list(rows["n"]) == [len(RETURNS), len(OTHER)]
    ab = pairs[(pairs["x"] == "a") & (pairs["y"] == "b")].iloc[0]
    ba = pairs[(pairs["x"] == "b") & (pairs["y"] == "a")].iloc[0]
    p = hand_probability_of_improvement(RETURNS, OTHER)
    assert ab["p_x_better"] == pytest.approx(p) and ba["p_x_better"] == pytest.approx(1 - p)
    assert (ab["n_x"], ab["n_y"]) == (len(RETURNS), len(OTHER))
    assert_interval_like(
        ab["p_low"],
        ab["p_high"],
        ab["p_x_better"],
        loop_interval([RETURNS, OTHER], hand_probability_of_improvement),
    )


def test_estimate_interval_uses_a_probes_own_interval_or_bootstraps_the_rows():
    one = pd.DataFrame({"value": [0.4], "ci_low": [0.1], "ci_high": [0.8]})
    assert estimate_interval(one) == (0.4, 0.1, 0.8, True)
    rows = pd.DataFrame({"value": RETURNS / 1000.0})
    point, low, high, own = estimate_interval(rows)
    assert not own and point == pytest.approx(RETURNS.mean() / 1000.0)
    assert_interval_like(low, high, point, loop_interval([RETURNS / 1000.0], np.mean))


# --- the probes' statistics ---------------------------------------------------------------------
def test_cosine_similarity_and_matrix_against_the_definition():
    a, b = torch.tensor([3.0, 4.0, 0.0]), torch.tensor([4.0, -3.0, 5.0])
    assert cosine_similarity(a, a * 2.5) == pytest.approx(1.0)
    assert cosine_similarity(a, b) == pytest.approx((12 - 12 + 0) / (5 * 50**0.5), abs=1e-7)
    c = torch.tensor([1.0, 1.0, 1.0])
    assert cosine_similarity(a, c) == pytest.approx(7 / (5 * 3**0.5))
    assert np.isnan(cosine_similarity(a, torch.zeros(3)))
    rows = torch.stack([a, b, c, torch.zeros(3)])
    m = cosine_matrix(rows)
    assert m[0, 2] == pytest.approx(7 / (5 * 3**0.5)) and m[1, 1] == pytest.approx(1.0)
    assert np.isnan(m[3]).all() and np.isnan(m[:, 3]).all()
    with pytest.raises(ValueError, match="at least two estimates"):
        cosine_matrix(a[None])
    # Short vectors (norms below 1) are directions like any other.
    small = torch.tensor([[0.03, 0.04], [0.001, 0.0]])
    assert cosine_similarity(small[0], small[1]) == pytest.approx(0.6)
    assert cosine_matrix(small) == pytest.approx(np.array([[1.0, 0.6], [0.6, 1.0]]))


def test_pairwise_cosine_is_each_estimates_mean_over_the_others():
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    half = 2**-0.5
    assert pairwise_cosine(rows) == pytest.approx([(0 + half) / 2, (0 + half) / 2, half])


def test_pairwise_interval_matches_a_loop_over_resampled_estimates():
    """Resample the K estimates with replacement; a resample's statistic is the mean cosine over
    its pairs of distinct original estimates."""
    gen = torch.Generator().manual_seed(0)
    signal = torch.randn(50, generator=gen)
    estimates = signal + 1.5 * torch.randn(12, 50, generator=gen)
    cos = cosine_matrix(estimates)
    rng = np.random.default_rng(5)
    means = []
    for _ in range(3000):
        idx = rng.integers(0, 12, 12)
        pairs = [cos[i, j] for i in idx for j in idx if i != j]
        if pairs:
            means.append(sum(pairs) / len(pairs))
    reference = tuple(np.percentile(means, [2.5, 97.5]))
    point = (cos.sum() - np.trace(cos)) / (12 * 11)
    low, high = pairwise_bootstrap_ci(estimates, resamples=3000, seed=0)
    assert_interval_like(low, high, point, reference)
    assert pairwise_bootstrap_ci(estimates, 3000, 0) == (low, high)  # the seed fixes it
    with_zero = torch.cat([estimates, torch.zeros(1, 50)])
    assert all(np.isnan(pairwise_bootstrap_ci(with_zero, 100, 0)))


def test_pairwise_interval_quantiles_of_its_resamples():
    """The interval is the 2.5% and 97.5% quantile of the resamples' mean cosines, every
    estimate drawn with equal chance (the draws replayed here from the documented seed), and a
    resample of one estimate repeated, which has no pair, left out."""
    # Estimate 0 is orthogonal to the two others, which agree: resamples without it have a
    # mean cosine of 1, with it lower.
    estimates = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    cos = cosine_matrix(estimates)
    draws = np.random.default_rng(4).integers(0, 3, size=(400, 3))
    means = []
    for idx in draws:
        pairs = [cos[i, j] for i in idx for j in idx if i != j]
        if pairs:  # ~1 in 9 resamples repeat one estimate
            means.append(sum(pairs) / len(pairs))
    assert len(means) < 400
    low, high = pairwise_bootstrap_ci(estimates, resamples=400, seed=4)
    assert (low, high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), abs=1e-12)
    assert low < 0.5 and high == pytest.approx(1.0)
    # Continuous resample means: the bounds are exactly the 2.5% and 97.5% quantiles.
    gen = torch.Generator().manual_seed(1)
    estimates = torch.randn(8, 20, generator=gen) + 0.5
    cos = cosine_matrix(estimates)
    means = [
        np.mean([cos[i, j] for i in idx for j in idx if i != j])
        for idx in np.random.default_rng(9).integers(0, 8, size=(300, 8))
    ]
    got = pairwise_bootstrap_ci(estimates, resamples=300, seed=9)
    assert got == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), abs=1e-12)


def test_spearman_brown_corrected_cosine_and_relative_error_formulas():
    assert spearman_brown(0.5) == pytest.approx(2 * 0.5 / 1.5)
    assert spearman_brown(-0.5) == pytest.approx(-2.0)
    assert np.isnan(spearman_brown(-1.0))
    assert corrected_cosine(0.3, 0.36) == pytest.approx(0.5)
    assert np.isnan(corrected_cosine(0.3, 0.0)) and np.isnan(corrected_cosine(0.3, -0.1))
    assert mean_relative_error([1.0, 3.0, -2.0], [2.0, 2.0, -4.0]) == pytest.approx(
        (0.5 + 0.5 + 0.5) / 3
    )
    assert mean_relative_error([0.0, 5.0], [1.0, 4.0]) == pytest.approx((1.0 + 0.25) / 2)
