"""Value prediction figures from probes/value.parquet: mean relative error of the value network
against GAE targets and against Monte-Carlo returns over training (paper Figs. 3, 11, 12), by
deep_pg's definitions (top row) and the released reference code's (bottom row; see
docs/probes.md)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from deep_pg.analysis.figures.common import (
    Figure,
    MissingData,
    algo_colors,
    log_axis,
    ordered,
    probe_table,
    steps_axis,
    steps_per_iter,
    trial_band,
)
from deep_pg.analysis.settings import arms

_SPLITS = {"heldout": "held-out (paper Figs. 3, 12)", "train": "train (paper Fig. 11)"}
_MEASURES = [
    ("gae", "GAE MRE"),
    ("returns", "Returns MRE"),
    ("ref_gae_sq", "GAE (V−t)²/|t|, reference"),
    ("ref_returns", "Returns MRE, reference"),
]


def value_figures(runs, ctx) -> list[Figure]:
    table = probe_table(runs, "value", needs=("measure", "variant", "iteration"))
    table = table.assign(arm=arms(table))
    colors = algo_colors(table["arm"].unique())
    out = []
    for split, label in _SPLITS.items():
        for env, part in table[table["variant"] == split].groupby("env", sort=True):
            fig, axes = plt.subplots(2, 2, figsize=(10, 7.2))
            for ax, (measure, ylabel) in zip(axes.flat, _MEASURES):
                rows = part[part["measure"] == measure]
                for name in ordered(rows["arm"].unique()):
                    # interval over the runs of the setting (one run: over its trials)
                    band = trial_band(rows[rows["arm"] == name], "env_steps")
                    ax.plot(
                        band["env_steps"],
                        band["mean"],
                        color=colors[name],
                        lw=1.5,
                        marker="o",
                        ms=3,
                        label=name,
                    )
                    ax.fill_between(
                        band["env_steps"],
                        band["low"],
                        band["high"],
                        color=colors[name],
                        alpha=0.2,
                        lw=0,
                    )
                ax.set(ylabel=ylabel, title=f"{env}, {split}")
                log_axis(ax, "y", base=2)  # the paper's axis: MRE spans powers of two
                steps_axis(ax, steps_per_iter(runs, part["run_id"]))
                if rows.empty:
                    ax.text(0.5, 0.5, f"no {measure} rows", ha="center", transform=ax.transAxes)
                else:
                    ax.legend(fontsize=8)
            fig.tight_layout()
            out.append(
                Figure(
                    f"value_mre_{split}_{env}",
                    f"Value prediction, {label}: {env}",
                    "Mean relative error |V − target|/|target| of the value network "
                    "against GAE targets (V_old + A, left) and Monte-Carlo returns "
                    "(right); top: deep_pg's definitions (returns of the infinite-"
                    "horizon value), bottom: the reference code's (returns cut at the "
                    "end of the batch's stream, time limit terminal, episode-end steps "
                    "left out; GAE side squared error / |target|); mean over runs of "
                    "each run's mean over its trials, with the t-interval over the "
                    "runs (one run: over its trials).",
                    fig,
                )
            )
    if not out:
        raise MissingData("probes/value.parquet has no train or heldout rows")
    return out
