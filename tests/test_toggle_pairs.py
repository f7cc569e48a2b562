"""Paired toggle effects: each run with a toggle on against the run that differs in that toggle
alone, over all pairs and split by the state of each other toggle (interactions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deep_pg.analysis.schema import ABLATION_TOGGLES as TOGGLES
from deep_pg.analysis.toggle_pairs import ANY, paired_effects, toggle_pairs

ANNEAL, SCALING, ORTHO, CLIP = TOGGLES


def grid(final_return, seeds=(0, 1, 2), lrs=(1e-4, 1e-3)) -> pd.DataFrame:
    """Every configuration (bits = the four toggles) x lr x seed, the final return a function
    of (toggle states as a dict, lr, seed). reward_scaling as the sweep spells it."""
    rows = []
    for c in range(16):
        on = {t: bool(c >> i & 1) for i, t in enumerate(TOGGLES)}
        for lr in lrs:
            for seed in seeds:
                rows.append(
                    {
                        "algo": "ppo",
                        "env": "hopper",
                        "algo.policy_lr": lr,
                        "seed": seed,
                        **on,
                        SCALING: "returns" if on[SCALING] else "none",
                        "final_return": final_return(on, lr, seed),
                    }
                )
    return pd.DataFrame(rows)


def row(table, toggle, given=ANY, state=ANY):
    match = table[(table.toggle == toggle) & (table.given == given) & (table.given_state == state)]
    assert len(match) == 1
    return match.iloc[0]


def test_a_pair_differs_in_its_toggle_alone():
    table = grid(lambda on, lr, seed: 1000 * seed + 100 * (lr == 1e-3) + sum(on.values()))
    pairs = toggle_pairs(table)
    # 8 states of the other toggles x 2 lrs x 3 seeds for each toggle
    assert pairs.groupby("toggle").size().to_dict() == {t: 48 for t in TOGGLES}
    # same seed and lr on both sides: the return differs by the one toggle's +1 only
    assert (pairs["diff"] == 1).all()


def test_an_interaction_shows_in_the_split_and_not_in_the_mean_alone():
    # value clipping costs 500 without reward scaling and nothing with it (Hopper's finding)
    rng = np.random.default_rng(0)
    noise = {(c, s): rng.normal(0, 10) for c in range(16) for s in range(6)}

    def final_return(on, lr, seed):
        bits = sum(int(on[t]) << i for i, t in enumerate(TOGGLES))
        return 1000 + noise[bits, seed] - (500 if on[CLIP] and not on[SCALING] else 0)

    effects = paired_effects(grid(final_return, seeds=range(6), lrs=(1e-4,)))
    assert row(effects, CLIP)["n_pairs"] == 48
    assert row(effects, CLIP)["mean_diff"] == pytest.approx(-250, abs=10)
    without = row(effects, CLIP, SCALING, "off")
    assert without["mean_diff"] == pytest.approx(-500, abs=10)
    assert without["on_better"] == 0 and without["mean_diff_high"] < -480
    with_scaling = row(effects, CLIP, SCALING, "on")
    assert with_scaling["mean_diff_low"] < 0 < with_scaling["mean_diff_high"]
    # the other toggles' states leave value clipping's cost at the average of the two
    assert row(effects, CLIP, ANNEAL, "on")["mean_diff"] == pytest.approx(-250, abs=15)
    # reward scaling's gain is the same interaction seen from its side
    assert row(effects, SCALING, CLIP, "on")["mean_diff"] == pytest.approx(500, abs=10)
    assert row(effects, SCALING, CLIP, "off")["on_better_low"] < 0.5


def test_intervals_resample_seeds_first_so_a_seed_dependent_effect_stays_uncertain():
    # annealing gains 300 on seed 0, nothing on seed 1, 600 on seed 2, the same on every pair
    # of a seed: 48 consistent-looking pairs per seed, but three seeds of evidence
    gain = {0: 300.0, 1: 0.0, 2: 600.0}
    rng = np.random.default_rng(1)
    noise = {(c, s): rng.normal(0, 5) for c in range(16) for s in range(3)}

    def final_return(on, lr, seed):
        bits = sum(int(on[t]) << i for i, t in enumerate(TOGGLES))
        return 1000 + noise[bits, seed] + (gain[seed] if on[ANNEAL] else 0)

    anneal = row(paired_effects(grid(final_return, lrs=(1e-4,))), ANNEAL)
    assert anneal["n_seeds"] == 3 and anneal["n_pairs"] == 24
    assert anneal["interval"] == "hierarchical bootstrap, 3 seeds × 8 pairs"
    assert anneal["mean_diff"] == pytest.approx(300, abs=5)
    # a bootstrap over the 24 pairs alone would give about ±100; the seeds' spread shows here
    assert anneal["mean_diff_low"] < 100 and anneal["mean_diff_high"] > 500


def test_each_toggle_has_a_row_over_all_pairs_and_one_per_state_of_each_other():
    effects = paired_effects(grid(lambda on, lr, seed: seed + lr))
    assert len(effects) == 4 * (1 + 3 * 2)
    assert set(effects["n_pairs"]) == {48, 24}
    assert (effects["on_better"] == 0.5).all()  # ties count one half


def test_runs_without_a_partner_make_no_pair():
    table = grid(lambda on, lr, seed: 0.0)
    lone = table[~(table[ANNEAL] & (table.seed == 2))]  # seed 2's annealed runs missing
    pairs = toggle_pairs(lone)
    assert (pairs[pairs.toggle == ANNEAL]["seed"] != 2).all()
    assert len(pairs[pairs.toggle == ANNEAL]) == 32


def test_runs_that_differ_in_another_setting_too_make_no_pair():
    # a second value-network rate doubles the grid: pairs form within each rate, never across
    table = grid(lambda on, lr, seed: 0.0)
    both = pd.concat([table.assign(**{"algo.value_lr": v}) for v in (1e-4, 3e-4)])
    both["algo.hidden_sizes"] = [[64, 64]] * len(both)  # list-valued settings compare too
    pairs = toggle_pairs(both)
    assert len(pairs) == 2 * len(toggle_pairs(table))
    assert set(pairs["algo.value_lr"]) == {1e-4, 3e-4}


def test_a_repeated_run_is_an_error_not_an_extra_pair():
    table = grid(lambda on, lr, seed: 0.0)
    with pytest.raises(ValueError, match="runs share their config"):
        toggle_pairs(pd.concat([table, table.iloc[:1]]))


def test_each_on_mode_of_reward_scaling_pairs_with_the_same_off_run():
    # scaling by returns gains 100, by rewards 50; both are "on" against the unscaled run
    gain = {"returns": 100.0, "rewards": 50.0, "none": 0.0}
    table = grid(lambda on, lr, seed: 0.0)
    table = pd.concat([table, table[table[SCALING] == "returns"].assign(**{SCALING: "rewards"})])
    table["final_return"] = table[SCALING].map(gain)
    pairs = toggle_pairs(table)
    scaling = pairs[pairs.toggle == SCALING]
    assert sorted(scaling["diff"].unique()) == [50.0, 100.0]
    assert len(scaling) == 2 * 48
    # the other toggles pair within one mode: never "returns" against "rewards"
    assert (pairs[pairs.toggle != SCALING]["diff"] == 0).all()
    assert len(pairs[pairs.toggle == ANNEAL]) == 48 + 24  # 24 pairs more in the "rewards" mode
    effects = paired_effects(table)
    assert row(effects, SCALING)["mean_diff"] == pytest.approx(75)


def test_a_run_without_a_final_return_makes_no_pair():
    table = grid(lambda on, lr, seed: 0.0)
    table.loc[0, "final_return"] = float("nan")  # its partners are one per toggle
    pairs = toggle_pairs(table)
    assert len(pairs) == 4 * 48 - 4 and pairs["diff"].notna().all()
