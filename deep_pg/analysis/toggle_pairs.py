"""Paired toggle effects of the 16-way ablation: each run with a toggle on against the run that
differs from it in that toggle alone (the same algo, env and opt settings, learning rate and
other toggles included, seed and training length).

The blog's histograms compare tuned agents across configurations: a toggle's effect there is
mixed with the other toggles' and with the luck of the learning-rate pick. Pairs use every run
of the grid with no selection, and show an interaction directly, as the effect of one toggle
with another on against the same with it off.

The two runs of a pair share their seed, and so do all the pairs of one seed (its initial
networks and environment streams), so the independent units are the seeds: the intervals resample
seeds first, then pairs within each seed (``analysis.stats.hierarchical_interval``). With 3 seeds
they are not 95% intervals, whatever their nominal level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from deep_pg.analysis.schema import ABLATION_TOGGLES, is_identity_key
from deep_pg.analysis.settings import CELL
from deep_pg.analysis.stats import hierarchical_interval
from deep_pg.identity import toggle_on

ANY = "any"  # the `given` and `given_state` of the rows over all pairs


def toggle_pairs(final: pd.DataFrame, toggles: Sequence[str] = ABLATION_TOGGLES) -> pd.DataFrame:
    """One row per pair of runs whose identities (``deep_pg.identity.IDENTITY_KEYS``: the
    algo, env and opt settings, seed, total_steps) differ in one toggle only, on in one run and
    off in the other. Columns: the pairing key (the other toggles as booleans), toggle,
    final_return_on, final_return_off, diff (on minus off). Where a toggle has several "on"
    modes (reward scaling by returns or by rewards), each pairs with the same "off" run.
    ``final`` holds the toggles as configured (modes, not yet booleans); runs without a final
    return have nothing to compare and make no pair."""
    final = final.dropna(subset=["final_return"])
    identity = [c for c in final.columns if is_identity_key(c)]
    # list-valued settings (hidden sizes) cannot be merge keys: they compare as text
    unhashable = [c for c in identity if final[c].map(lambda v: isinstance(v, (list, dict))).any()]
    keyed = final.assign(**{c: final[c].astype(str) for c in unhashable})
    repeated = keyed.duplicated(identity, keep=False)
    if repeated.any():  # the loader sets repeats aside; two here would pair twice
        raise ValueError(
            f"{int(repeated.sum())} runs share their config and seed with another; "
            "load them with deep_pg.analysis.load_runs, which keeps one of each"
        )
    parts = []
    for toggle in toggles:
        keys = [c for c in identity if c != toggle]
        is_on = keyed[toggle].map(toggle_on).astype(bool)
        on = keyed.loc[is_on, keys + ["final_return"]]
        off = keyed.loc[~is_on, keys + ["final_return"]]
        pairs = on.merge(off, on=keys, suffixes=("_on", "_off"), validate="many_to_one")
        pairs = pairs.assign(**{t: pairs[t].map(toggle_on) for t in toggles if t != toggle})
        parts.append(
            pairs.assign(toggle=toggle, diff=pairs["final_return_on"] - pairs["final_return_off"])
        )
    return pd.concat(parts, ignore_index=True)


def _on_better(diff, axis: int = -1) -> np.ndarray:
    """Share of pairs where the run with the toggle on ends higher (ties count ½)."""
    diff = np.asarray(diff, float)
    return ((diff > 0) + 0.5 * (diff == 0)).mean(axis=axis)


def paired_effects(
    final: pd.DataFrame, toggles: Sequence[str] = ABLATION_TOGGLES, seed: int = 0
) -> pd.DataFrame:
    """Per (algo, env, toggle) and per state of each other toggle (``given``, ``given_state``;
    ``any``: all pairs): n_seeds, n_pairs, the mean final-return difference on minus off and
    the share of pairs where on ends higher, each with its hierarchical bootstrap interval
    (seeds, then pairs within seeds; ``interval`` names it)."""
    pairs = toggle_pairs(final, toggles)
    rows = []
    for (*cell, toggle), group in pairs.groupby(CELL + ["toggle"], sort=False):
        subsets = [(ANY, ANY, group)]
        for given in (t for t in toggles if t != toggle):
            subsets += [
                (given, "on" if state else "off", group[group[given] == state])
                for state in (True, False)
            ]
        for given, state, subset in subsets:
            if subset.empty:
                continue
            diff, seeds = subset["diff"].to_numpy(float), subset["seed"].to_numpy()
            mean, mean_low, mean_high, label = hierarchical_interval(diff, seeds, np.mean, seed)
            share, share_low, share_high, _ = hierarchical_interval(diff, seeds, _on_better, seed)
            rows.append(
                {
                    **dict(zip(CELL, cell)),
                    "toggle": toggle,
                    "given": given,
                    "given_state": state,
                    "n_seeds": len(set(seeds)),
                    "n_pairs": len(diff),
                    "mean_diff": mean,
                    "mean_diff_low": mean_low,
                    "mean_diff_high": mean_high,
                    "on_better": share,
                    "on_better_low": share_low,
                    "on_better_high": share_high,
                    "interval": label,
                }
            )
    return pd.DataFrame(rows)
