"""Trust region on train vs held-out batches from probes/trust_region.parquet (blog part 3)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from deep_pg.analysis.figures.common import (
    Figure,
    algo_colors,
    log_axis,
    probe_table,
    steps_axis,
    steps_per_iter,
    trial_band,
)
from deep_pg.analysis.settings import arms

_LINESTYLE = {"train": "-", "heldout": "--"}


def trust_region_probe_figures(runs, ctx) -> list[Figure]:
    table = probe_table(runs, "trust_region", needs=("measure", "variant", "env_steps"))
    table = table.assign(arm=arms(table))
    colors = algo_colors(table["arm"].unique())
    out = []
    for env, part in table.groupby("env", sort=True):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for ax, measure in zip(axes, ("mean_kl", "max_ratio")):
            rows = part[part["measure"] == measure]
            for (name, split), sel in rows.groupby(["arm", "variant"]):
                band = trial_band(sel, "env_steps")
                ax.plot(
                    band["env_steps"],
                    band["mean"],
                    color=colors[name],
                    ls=_LINESTYLE.get(split, ":"),
                    marker="o",
                    ms=3,
                    label=f"{name} {split}",
                )
                ax.fill_between(
                    band["env_steps"],
                    band["low"],
                    band["high"],
                    color=colors[name],
                    alpha=0.15,
                    lw=0,
                )
            ax.set_title(f"{env}: {measure}")
            log_axis(ax, "y")
            steps_axis(ax, steps_per_iter(runs, part["run_id"]))
            if not rows.empty:
                ax.legend(fontsize=7)
        fig.tight_layout()
        out.append(
            Figure(
                f"trust_region_probe_{env}",
                f"Trust region, train vs held-out: {env}",
                "Mean KL and max likelihood ratio between successive policies at the "
                "probe iterations, on the training batch (solid) and a held-out batch "
                "(dashed); mean over runs with the t-interval over them (one run: its own "
                "interval over its trials).",
                fig,
            )
        )
    return out
