"""How the ablation's tuned agents are chosen: the blog's method (LR and histogram from the same
runs) against the held-out one (LR chosen on selection seeds, histogram from fresh seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deep_pg.analysis.ablation import BLOG, HELD_OUT, tuned_agents
from deep_pg.analysis.schema import ABLATION_TOGGLES as TOGGLES


def runs(returns: dict[tuple[int, float, int], float]) -> pd.DataFrame:
    """One run per (configuration 0-15, lr, seed) -> final return; the configuration's bits are
    the four toggles."""
    return pd.DataFrame(
        [
            {
                "algo": "ppo",
                "env": "hopper",
                "lr": lr,
                "seed": seed,
                "final_return": r,
                **{t: bool(c >> i & 1) for i, t in enumerate(TOGGLES)},
            }
            for (c, lr, seed), r in returns.items()
        ]
    )


def test_held_out_chooses_on_the_selection_seeds_and_shows_only_fresh_ones():
    # seed 0 favours lr 1e-3, seeds 1 and 2 favour 1e-4 (by more, so the blog's mean picks 1e-4)
    table = runs(
        {
            (0, 1e-3, 0): 10,
            (0, 1e-4, 0): 5,
            (0, 1e-3, 1): 0,
            (0, 1e-4, 1): 20,
            (0, 1e-3, 2): 0,
            (0, 1e-4, 2): 20,
        }
    )
    best, tuned, label = tuned_agents(table, HELD_OUT, selection_seeds=[0])
    assert best["lr"].tolist() == [1e-3]
    assert tuned["seed"].tolist() == [1, 2] and tuned["final_return"].tolist() == [0, 0]
    assert label == ("held-out method: LR chosen on seeds 0, histogram from fresh seeds 1, 2")
    assert (tuned["selection"] == label).all()
    best, tuned, label = tuned_agents(table, BLOG)
    assert best["lr"].tolist() == [1e-4] and tuned["seed"].tolist() == [0, 1, 2]
    assert label.startswith("blog method") and (tuned["selection"] == label).all()
    assert "seeds 0, 1, 2," in label


def test_blog_method_compares_learning_rates_only_on_seeds_run_at_all_of_them():
    # seeds 1 and 2 were run at lr 1e-4 only (the held-out method's fresh seeds): counting them
    # would compare 1e-4 over three seeds with 1e-3 over one
    table = runs({(0, 1e-3, 0): 10, (0, 1e-4, 0): 5, (0, 1e-4, 1): 20, (0, 1e-4, 2): 20})
    best, tuned, label = tuned_agents(table, BLOG)
    assert best["lr"].tolist() == [1e-3] and best["n_seeds"].tolist() == [1]
    assert tuned["seed"].tolist() == [0] and "seeds 0," in label
    _, held_out, _ = tuned_agents(table, HELD_OUT, selection_seeds=[0])
    assert held_out.empty  # the fresh seeds were run at 1e-4, not at seed 0's choice


def test_default_selection_is_the_lower_half_of_the_seeds():
    table = runs({(0, lr, seed): seed for lr in (1e-4, 1e-3) for seed in range(4)})
    _, tuned, label = tuned_agents(table)
    assert sorted(tuned["seed"].unique()) == [2, 3] and "seeds 0, 1," in label


def test_blog_method_inflates_the_tuned_returns_the_held_out_one_does_not():
    # every LR is equally good (true mean 0): whatever the blog's histogram shows above 0 is the
    # luck of picking the best of 8 noisy means and showing the same runs
    rng = np.random.default_rng(0)
    table = runs(
        {
            (c, lr, seed): rng.normal()
            for c in range(16)
            for lr in np.geomspace(1e-5, 1e-2, 8)
            for seed in range(8)
        }
    )
    blog = tuned_agents(table, BLOG)[1]["final_return"].mean()
    held_out = tuned_agents(table, HELD_OUT)[1]["final_return"].mean()
    # E[max of 8 means of 8 N(0,1)] = 0.50, standard error over 16 configurations ~0.04
    assert blog > 0.35, blog
    # 16 configurations x 4 fresh seeds: mean 0, standard error 0.125
    assert abs(held_out) < 0.3, held_out


def test_held_out_needs_fresh_seeds():
    table = runs({(0, 1e-3, 0): 1.0, (0, 1e-4, 0): 2.0})
    with pytest.raises(ValueError, match="fresh seeds"):
        tuned_agents(table, HELD_OUT)
