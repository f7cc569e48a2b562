"""deep_pg.analysis.trust_region: the trust-region table of the report, on hand-made curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deep_pg.analysis.settings import ONLY_SETTING
from deep_pg.analysis.trust_region import per_run, trust_region_table


def _curves(run_id: str, mean_kl, max_ratio) -> pd.DataFrame:
    n = len(mean_kl)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "iteration": np.arange(1, n + 1),
            "env_steps": np.arange(1, n + 1) * 2048,
            "mean_kl": mean_kl,
            "max_ratio": max_ratio,
        }
    )


# As runs' configs are: every algo.* key present (schema defaults where an algorithm does not
# use it, e.g. PPO's max_kl 0.01), the family saying which bound is the algorithm's own.
CONFIGS = pd.DataFrame(
    [
        {
            "run_id": "trpo/0",
            "env": "hopper",
            "algo": "trpo",
            "family": "trpo",
            "seed": 0,
            "total_iterations": 4,
            "algo.max_kl": 0.1,
            "algo.max_kl_final": np.nan,
            "algo.clip_eps": 0.2,
        },
        {
            "run_id": "trpo_plus/0",
            "env": "hopper",
            "algo": "trpo_plus",
            "family": "trpo",
            "seed": 0,
            "total_iterations": 4,
            "algo.max_kl": 0.04,
            "algo.max_kl_final": 0.08,
            "algo.clip_eps": 0.2,
        },
        {
            "run_id": "ppo/0",
            "env": "hopper",
            "algo": "ppo",
            "family": "ppo",
            "seed": 0,
            "total_iterations": 4,
            "algo.max_kl": 0.01,
            "algo.max_kl_final": np.nan,
            "algo.clip_eps": 0.2,
        },
        {
            "run_id": "ppo/1",
            "env": "hopper",
            "algo": "ppo",
            "family": "ppo",
            "seed": 1,
            "total_iterations": 4,
            "algo.max_kl": 0.01,
            "algo.max_kl_final": np.nan,
            "algo.clip_eps": 0.2,
        },
    ]
).assign(setting=ONLY_SETTING)  # one setting per algorithm, as load_runs names it
CURVES = pd.concat(
    [
        _curves("trpo/0", [0.05, 0.1, 0.12, 0.09], [1.5, 1.6, 1.7, 1.8]),
        # δ goes 0.04, 0.05, 0.06, 0.07 over the four updates: the third KL (0.065) exceeds its δ
        _curves("trpo_plus/0", [0.04, 0.045, 0.065, 0.07], [1.1, 1.2, 1.3, 1.4]),
        _curves("ppo/0", [0.01, 0.02, 0.03, 0.04], [1.1, 1.3, 1.25, 3.0]),
        _curves("ppo/1", [0.01, 0.01, 0.01, 0.01], [1.1, 1.1, 1.1, 1.1]),
    ],
    ignore_index=True,
)


def test_per_run_reductions_use_each_iterations_bound():
    runs = per_run(CURVES, CONFIGS).set_index("run_id")
    assert runs.loc["trpo/0", "within_delta"] == pytest.approx(0.75)  # 0.12 > 0.1
    assert runs.loc["trpo_plus/0", "within_delta"] == pytest.approx(0.75)  # the δ schedule
    assert runs.loc["ppo/0", "beyond_clip"] == pytest.approx(0.75)  # 1.3, 1.25, 3.0 > 1.2
    assert runs.loc["ppo/0", "peak_max_ratio"] == 3.0
    assert runs.loc["ppo/0", "median_mean_kl"] == pytest.approx(0.025)
    assert np.isnan(runs.loc["ppo/0", "within_delta"]) and np.isnan(
        runs.loc["trpo/0", "beyond_clip"]
    )


def test_runs_without_a_config_row_are_left_out():
    assert set(per_run(CURVES, CONFIGS[CONFIGS.algo != "ppo"]).run_id) == {"trpo/0", "trpo_plus/0"}


def test_table_averages_runs_per_algorithm_with_an_interval():
    table = trust_region_table(CURVES, CONFIGS).set_index("algo")
    ppo = table.loc["ppo"]
    assert ppo["n"] == 2 and ppo["bound"] == "ε 0.2"
    assert ppo["beyond_clip"] == pytest.approx(0.375)  # (0.75 + 0) / 2
    assert ppo["beyond_clip_low"] <= 0.375 <= ppo["beyond_clip_high"]
    assert ppo["peak_max_ratio"] == pytest.approx(2.05)  # the mean of the runs' peaks 3.0, 1.1
    assert ppo["peak_max_ratio_largest"] == 3.0 and ppo["interval"] == "t, n=2 seeds"
    assert table.loc["trpo_plus", "bound"] == "δ 0.04; final δ 0.08"
    assert table.loc["trpo", "bound"] == "δ 0.1" and np.isnan(table.loc["ppo", "within_delta"])
