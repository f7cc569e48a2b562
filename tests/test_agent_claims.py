"""deep_pg.analysis.agent_claims: claims about agents are tested across agents, each agent's own
difference first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deep_pg.analysis.agent_claims import changes, gaps
from deep_pg.analysis.claim_rule import cell_verdict
from deep_pg.analysis.stats import t_interval

KEYS = ["env", "algo", "setting"]


def _values(rows):
    return pd.DataFrame(rows).assign(env="hopper", algo="ppo", setting="only")


def test_gaps_are_each_agents_difference_then_a_t_interval_over_agents():
    # agent 2 has no zero baseline: it cannot say how the two compare, so it is left out
    values = _values(
        [
            {"run_id": "a", "seed": 1, "variant": "value_net", "value": 0.5},
            {"run_id": "a", "seed": 1, "variant": "zero", "value": 0.1},
            {"run_id": "b", "seed": 0, "variant": "value_net", "value": 0.4},
            {"run_id": "b", "seed": 0, "variant": "zero", "value": 0.2},
            {"run_id": "c", "seed": 3, "variant": "value_net", "value": 0.9},
            {"run_id": "c", "seed": 3, "variant": "zero", "value": 0.0},
            {"run_id": "d", "seed": 2, "variant": "value_net", "value": 0.7},
        ]
    )
    row = gaps(values, KEYS, "variant", [("value_net", "zero")]).iloc[0]
    assert row["comparison"] == "value_net − zero" and row["n_agents"] == 3
    assert row["per_agent"] == "0.20, 0.40, 0.90"  # by seed: b, a, c
    assert (row["mean_diff"], row["mean_diff_low"], row["mean_diff_high"]) == pytest.approx(
        t_interval([0.4, 0.2, 0.9])
    )
    assert row["interval"] == "t, n=3 agents"
    assert row["min_detectable"] > row["mean_diff"] and row["agents_needed"] > 3


def test_changes_span_consecutive_checkpoints_the_whole_run_and_its_trained_part():
    rows = [
        {"run_id": f"r{s}", "seed": s, "iteration": it, "value": v}
        for s, series in enumerate(
            ([0.9, 0.5, 0.3, 0.2], [0.95, 0.6, 0.4, 0.35], [0.92, 0.4, 0.45, 0.1])
        )
        for it, v in zip((0, 150, 300, 450), series)
    ]
    table = changes(_values(rows), KEYS).set_index(["from_iteration", "to_iteration"])
    assert sorted(table.index) == [(0, 150), (0, 450), (150, 300), (150, 450), (300, 450)]
    assert table.loc[(150, 450), "per_agent"] == "-0.30, -0.25, -0.30"
    assert table.loc[(0, 450), "mean_diff"] == pytest.approx(np.mean([-0.7, -0.6, -0.82]))
    assert table.loc[(0, 450), "mean_diff_high"] < 0  # every agent far below its start
    assert table.loc[(300, 450), "mean_diff_low"] < 0 < table.loc[(300, 450), "mean_diff_high"]


@pytest.mark.parametrize(
    "low, high, above, threshold, margin, verdict",
    [
        (0.1, 0.3, True, 0.0, 0.05, "holds"),
        (-0.3, -0.1, True, 0.0, 0.05, "contradicted"),
        (-0.3, -0.1, False, 0.0, 0.05, "holds"),
        (-0.04, 0.03, True, 0.0, 0.05, "tie"),  # within the margin: a tie, even excluding 0
        (0.01, 0.04, True, 0.0, 0.05, "tie"),
        (-0.2, 0.4, True, 0.0, 0.05, "unresolved"),
        (-0.05, 0.12, False, 0.2, 0.0, "holds"),  # "below 0.2", no margin
        (0.26, 0.5, False, 0.2, 0.0, "contradicted"),
        (-900.0, -400.0, None, 0.0, 72.0, "holds"),  # an effect of either sign
        (-14.0, 16.0, None, 0.0, 24.0, "tie"),
        (float("nan"), 1.0, True, 0.0, 0.0, "no interval"),
    ],
)
def test_a_cells_verdict_follows_the_declared_rule(low, high, above, threshold, margin, verdict):
    assert cell_verdict(low, high, above, threshold, margin) == verdict
