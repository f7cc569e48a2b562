"""The blog's 16-way ablation (part 1): tune the learning rate of every on/off configuration of
the four code-level optimizations, then compare the tuned agents with each toggle on vs off.

Input is the per-run table of `final.final_rewards` (config columns + final_return). A
configuration is one combination of the toggles within one (algo, env); its tuned agents are
its runs (one per seed) at the learning rate with the best mean final reward over seeds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from deep_pg.analysis.schema import ABLATION_TOGGLES, COMPLETED
from deep_pg.analysis.settings import (
    CELL,  # the ablation is analysed per algorithm and environment
)
from deep_pg.analysis.stats import bootstrap_interval, iqm, probability_of_improvement
from deep_pg.identity import toggle_on


def config_name(row, toggles: Sequence[str] = ABLATION_TOGGLES) -> str:
    """``opt=1011``: the toggles' on/off bits, in the order of the sweep's directory names."""
    return "opt=" + "".join("1" if toggle_on(row[t]) else "0" for t in toggles)


def usable(final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs the ablation uses, runs it leaves out with the reason). Only completed runs with a
    final reward count: a run still going or cut short would be compared on less training."""
    reason = pd.Series("", index=final.index)
    reason[final["status"] != COMPLETED] = "status " + final["status"].astype(str)
    reason[(reason == "") & final["final_return"].isna()] = "no finished episode"
    left_out = final[reason != ""].assign(left_out_because=reason[reason != ""])
    return final[reason == ""], left_out


def ablated_cells(final: pd.DataFrame, toggles: Sequence[str] = ABLATION_TOGGLES) -> pd.DataFrame:
    """The runs of the (algo, env) cells where at least one toggle takes both values: only
    there is there an ablation to analyse. The toggle columns come back as booleans."""
    final = final.assign(**{t: final[t].map(toggle_on) for t in toggles})
    varies = final.groupby(CELL)[list(toggles)].transform(lambda s: s.nunique() > 1)
    return final[varies.any(axis=1)]


def best_lr(
    final: pd.DataFrame, toggles: Sequence[str] = ABLATION_TOGGLES, hparam: str = "lr"
) -> pd.DataFrame:
    """Per configuration (CELL + toggles): the ``hparam`` value with the highest mean final
    reward over seeds; ties go to the smaller value. Columns: CELL, toggles, config, hparam,
    mean_final, n_seeds, lrs_tried."""
    keys = CELL + list(toggles)
    per_lr = (
        final.groupby(keys + [hparam], dropna=False)["final_return"]
        .agg(mean_final="mean", n_seeds="count")
        .reset_index()
    )
    per_lr = per_lr.sort_values(
        keys + ["mean_final", hparam], ascending=[True] * len(keys) + [False, True], kind="stable"
    )
    best = per_lr.groupby(keys, dropna=False, sort=True).head(1).copy()
    tried = per_lr.groupby(keys, dropna=False)[hparam].nunique().rename("lrs_tried")
    best = best.merge(tried.reset_index(), on=keys)
    best.insert(len(keys), "config", best.apply(config_name, axis=1, toggles=toggles))
    return best.reset_index(drop=True)


def tuned_runs(
    final: pd.DataFrame,
    best: pd.DataFrame,
    toggles: Sequence[str] = ABLATION_TOGGLES,
    hparam: str = "lr",
) -> pd.DataFrame:
    """The runs of each configuration at its best ``hparam``: the tuned agents."""
    keys = CELL + list(toggles) + [hparam]
    return final.merge(best[keys + ["config"]], on=keys, how="inner")


def cumulative_histogram(tuned: pd.DataFrame, toggle: str) -> pd.DataFrame:
    """The blog's figure as data: for the tuned agents with ``toggle`` on and off, each final
    reward in ascending order with the fraction of agents at or below it.
    Columns: CELL, toggle, state ("on"/"off"), final_return, fraction."""
    parts = []
    for (*cell, on), group in tuned.groupby([*CELL, tuned[toggle].map(toggle_on)], sort=True):
        values = np.sort(group["final_return"].to_numpy(float))
        parts.append(
            pd.DataFrame(
                {
                    **dict(zip(CELL, cell)),
                    "toggle": toggle,
                    "state": "on" if on else "off",
                    "final_return": values,
                    "fraction": np.arange(1, len(values) + 1) / len(values),
                }
            )
        )
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=CELL + ["toggle", "state", "final_return", "fraction"])
    )


def toggle_table(
    tuned: pd.DataFrame, toggles: Sequence[str] = ABLATION_TOGGLES, seed: int = 0
) -> pd.DataFrame:
    """Per (algo, env, toggle): tuned agents on vs off — counts, the IQM of each side and the
    probability that a random agent with the toggle on beats one with it off, each with its
    bootstrap interval over the agents (BCa from 5 agents a side, rliable's aggregate metrics
    computed with scipy, ``analysis.stats``); ``interval`` names it."""
    rows = []
    for cell, group in tuned.groupby(CELL, sort=True):
        for toggle in toggles:
            is_on = group[toggle].map(toggle_on).astype(bool)
            on = group.loc[is_on, "final_return"].to_numpy(float)
            off = group.loc[~is_on, "final_return"].to_numpy(float)
            row = {**dict(zip(CELL, cell)), "toggle": toggle, "n_on": len(on), "n_off": len(off)}
            for name, vals in (("on", on), ("off", off)):
                point, low, high, label = bootstrap_interval(
                    [vals], iqm, seed=seed, unit="agents a side"
                )
                row.update({f"iqm_{name}": point, f"iqm_{name}_low": low, f"iqm_{name}_high": high})
            if len(on) and len(off):
                p, low, high, label = bootstrap_interval(
                    [on, off], probability_of_improvement, seed=seed, unit="agents a side"
                )
            else:
                p = low = high = np.nan
            row.update(
                {
                    "p_on_better": p,
                    "p_on_better_low": low,
                    "p_on_better_high": high,
                    "interval": label,
                }
            )
            rows.append(row)
    return pd.DataFrame(rows)


# --- how the tuned agents are chosen ----------------------------------------------------------
# The blog picks each configuration's learning rate by its mean final reward over the seeds and
# then draws the histogram of those same runs: the selection's luck (the maximum over LRs of
# noisy means) lands in the histogram. The held-out method picks the LR on selection seeds and
# draws the histogram from the other, fresh seeds, which the choice has never seen.
BLOG = "blog"
HELD_OUT = "held_out"


def selection_label(
    method: str, selection_seeds: Collection[int] = (), evaluation_seeds: Collection[int] = ()
) -> str:
    """The one-line description every table and figure of tuned agents carries."""
    seeds = lambda s: ", ".join(str(x) for x in sorted(s))
    if method == BLOG:
        return (
            f"blog method: LR with the best mean over seeds {seeds(selection_seeds)}, "
            "histogram of those same runs"
        )
    return (
        f"held-out method: LR chosen on seeds {seeds(selection_seeds)}, histogram from "
        f"fresh seeds {seeds(evaluation_seeds)}"
    )


def full_grid_runs(
    final: pd.DataFrame, toggles: Sequence[str] = ABLATION_TOGGLES, hparam: str = "lr"
) -> pd.DataFrame:
    """The runs whose seed was run at every ``hparam`` value its configuration tried. The blog
    compares a configuration's learning rates on the same seeds; a seed run at some of them only
    (the held-out method's fresh seeds, run at the chosen LR alone) would tilt that comparison."""
    keys = CELL + list(toggles)
    tried = final.groupby(keys, dropna=False)[hparam].transform("nunique")
    by_seed = final.groupby(keys + ["seed"], dropna=False)[hparam].transform("nunique")
    return final[by_seed == tried]


def tuned_agents(
    final: pd.DataFrame,
    method: str = HELD_OUT,
    selection_seeds: Sequence[int] | None = None,
    toggles: Sequence[str] = ABLATION_TOGGLES,
    hparam: str = "lr",
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(best hparam per configuration, tuned agents, label) by ``method``.

    ``HELD_OUT``: the best ``hparam`` per configuration from the runs of ``selection_seeds``
    (default: the lower half of the distinct seeds), the tuned agents are the runs of the other
    seeds at that value. ``BLOG``: ``best_lr`` and ``tuned_runs`` over the seeds run at every
    ``hparam`` value (``full_grid_runs``). The tuned agents carry the label in column
    ``selection``.
    """
    if method == BLOG:
        grid = full_grid_runs(final, toggles, hparam)
        best = best_lr(grid, toggles, hparam)
        label = selection_label(BLOG, grid["seed"].unique())
        return best, tuned_runs(grid, best, toggles, hparam).assign(selection=label), label
    if method != HELD_OUT:
        raise ValueError(f"unknown selection method {method!r}: {BLOG} | {HELD_OUT}")
    seeds = sorted(final["seed"].unique())
    chosen = set(seeds[: len(seeds) // 2] if selection_seeds is None else selection_seeds)
    fresh = [s for s in seeds if s not in chosen]
    if not chosen or not fresh:
        raise ValueError(
            f"the held-out method needs selection and fresh seeds; seeds {seeds}, "
            f"selection {sorted(chosen)}"
        )
    on_selection = final["seed"].isin(chosen)
    best = best_lr(final[on_selection], toggles, hparam)
    label = selection_label(HELD_OUT, chosen, fresh)
    tuned = tuned_runs(final[~on_selection], best, toggles, hparam).assign(selection=label)
    return best, tuned, label
