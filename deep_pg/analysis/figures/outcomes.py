"""Figures of final rewards: the blog's ablation (cumulative histograms of tuned agents, toggle
on vs off, with the empirical CDF's interval; paired effects of each toggle) and the comparison of
algorithms (IQM and probability of improvement with their intervals)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from deep_pg.analysis.ablation import CELL, cumulative_histogram
from deep_pg.analysis.figures.common import Figure, MissingData, algo_colors, grid, ordered
from deep_pg.analysis.schema import ABLATION_TOGGLES
from deep_pg.analysis.stats import performance_profile
from deep_pg.analysis.toggle_pairs import ANY

_STATE_COLORS = {"off": "tab:blue", "on": "tab:red"}  # the blog's colors


def ablation_figures(runs, ctx) -> list[Figure]:
    """One figure per (algo, env) and selection method (ablation_<algo>_<env>[_blog]), then one
    of the paired effects per (algo, env) (ablation_pairs_<algo>_<env>)."""
    if not ctx.selections:
        raise MissingData(ctx.ablation_missing or "no tuned agents")
    out = [figure for sel in ctx.selections for figure in _ablation_figures(sel, ctx.definition)]
    return out + _paired_effect_figures(ctx.pairs, ctx.definition)


def _ablation_figures(sel, definition: str) -> list[Figure]:
    out = []
    for (algo, env), cell in sel.tuned.groupby(CELL, sort=True):
        fig, axes = grid(len(ABLATION_TOGGLES), width=3.6, height=3.2)
        for ax, toggle in zip(axes, ABLATION_TOGGLES):
            hist = cumulative_histogram(cell, toggle)
            if hist["state"].nunique() < 2:  # nothing to compare: say so instead of one curve
                ax.text(
                    0.5,
                    0.5,
                    f"not varied in these runs\n(always {hist['state'].iloc[0]})",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="gray",
                )
                ax.set(title=toggle.removeprefix("opt."), xticks=[], yticks=[])
                continue
            for state, part in hist.groupby("state"):
                values = part["final_return"].to_numpy(float)
                grid_x = np.linspace(values.min(), values.max(), 200)
                band = performance_profile(values, grid_x)  # P(X > x): 1 − the CDF drawn
                ax.fill_between(
                    grid_x,
                    1 - band["high"],
                    1 - band["low"],
                    step="post",
                    color=_STATE_COLORS[state],
                    alpha=0.15,
                    lw=0,
                )
                ax.step(
                    part["final_return"],
                    part["fraction"],
                    where="post",
                    lw=2,
                    color=_STATE_COLORS[state],
                    label=f"{state} (n={len(part)})",
                )
            ax.set(
                title=toggle.removeprefix("opt."),
                xlabel="final reward",
                ylabel="fraction of tuned agents ≤ x",
                ylim=(0, 1.02),
            )
            ax.legend(fontsize=8, loc="lower right")
            ax.grid(alpha=0.3)
        lrs = sel.best.loc[(sel.best["algo"] == algo) & (sel.best["env"] == env), "lrs_tried"]
        tried = int(lrs.max()) if len(lrs) else 1
        how = (
            f"each at the best of {tried} learning rates"
            if tried > 1
            else "at the one learning rate run"
        )
        fig.suptitle(
            f"{algo} on {env}: {cell['config'].nunique()} configurations, {how}", fontsize=10
        )
        fig.tight_layout()
        out.append(
            Figure(
                f"ablation_{algo}_{env}{sel.suffix}",
                "Ablation of code-level "
                f"optimizations: {algo}, {env} (blog part 1; {sel.method} selection)",
                "Cumulative histograms of final rewards of the tuned agents (each "
                "configuration at its best learning rate, or its only one) with the "
                "optimization off (blue) and on (red); shaded: the pointwise interval "
                "of each empirical CDF (scipy.stats.ecdf, Greenwood, log-log; 95% from "
                f"5 agents a side). Tuned agents: {sel.label}. Final reward: "
                f"{definition}.",
                fig,
            )
        )
    return out


def paired_effect_bars(ax, rows, y) -> None:
    """Each row's mean paired difference at height ``y`` with its interval (``mean_diff_low`` to
    ``mean_diff_high``): the marks of every paired-effect figure."""
    ax.errorbar(
        rows["mean_diff"],
        y,
        fmt="o",
        color="k",
        capsize=3,
        xerr=[
            rows["mean_diff"] - rows["mean_diff_low"],
            rows["mean_diff_high"] - rows["mean_diff"],
        ],
    )


def _paired_effect_figures(pairs, definition: str) -> list[Figure]:
    """Per (algo, env): one panel per toggle, its mean paired difference with its hierarchical
    interval (seeds, then pairs) over all pairs and per state of each other toggle (an
    interaction shows as rows that disagree)."""
    out: list[Figure] = []
    if pairs is None or pairs.empty:
        return out
    for (algo, env), cell in pairs.groupby(CELL, sort=True):
        toggles = [t for t in ABLATION_TOGGLES if t in set(cell["toggle"])]
        fig, axes = grid(len(toggles), width=3.8, height=3.0)
        for ax, toggle in zip(axes, toggles):
            rows = cell[cell["toggle"] == toggle].reset_index(drop=True)
            y = np.arange(len(rows))
            labels = [
                "all pairs" if g == ANY else f"{g.removeprefix('opt.')} {state}"
                for g, state in zip(rows["given"], rows["given_state"])
            ]
            paired_effect_bars(ax, rows, y)
            ax.axvline(0, color="gray", ls=":")
            ax.set(
                yticks=y,
                yticklabels=[f"{lab} (n={n})" for lab, n in zip(labels, rows["n_pairs"])],
                title=toggle.removeprefix("opt."),
                xlabel="final reward, on minus off",
            )
            ax.tick_params(axis="y", labelsize=8)
            ax.invert_yaxis()
            ax.grid(axis="x", alpha=0.3)
        fig.suptitle(f"{algo} on {env}: paired effect of each optimization", fontsize=10)
        fig.tight_layout()
        out.append(
            Figure(
                f"ablation_pairs_{algo}_{env}",
                f"Paired effects of the code-level optimizations: {algo}, {env}",
                "Each run with the optimization on against the run with the same "
                "config (learning rates and other toggles included) and seed with it "
                "off: the mean difference of final rewards with its hierarchical "
                "bootstrap interval (seeds resampled, then pairs within them; not "
                "95% below 5 seeds), for all pairs and for the pairs where another "
                "toggle is on (off). Every run of the grid, no learning-rate pick. "
                f"Final reward: {definition}.",
                fig,
            )
        )
    return out


def comparison_figures(runs, ctx) -> list[Figure]:
    summary, pairs = ctx.comparison
    if summary is None or summary.empty or summary.groupby("env")["algo"].nunique().max() < 2:
        raise MissingData("needs completed runs of at least two algorithms on one environment")
    out = []
    colors = algo_colors(summary["algo"].unique())
    for env, rows in summary.groupby("env", sort=True):
        if rows["algo"].nunique() < 2:
            continue
        algos = ordered(rows["algo"])
        rows = rows.set_index("algo").loc[algos]
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 0.6 * len(algos) + 2.2))
        y = np.arange(len(algos))
        for yi, algo in zip(y, algos):
            r = rows.loc[algo]
            ax.plot([r["iqm_low"], r["iqm_high"]], [yi, yi], color=colors[algo], lw=6, alpha=0.5)
            ax.plot([r["iqm"]], [yi], "|", color="k", ms=14)
        ax.set(
            yticks=y,
            yticklabels=[f"{a} (n={int(rows.loc[a, 'n'])})" for a in algos],
            xlabel="IQM of final reward (bootstrap interval)",
            title=env,
        )
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        p = pairs[pairs["env"] == env]
        p = p[p["x"].map(algos.index) < p["y"].map(algos.index)]  # each unordered pair once
        labels = [f"P({x} > {y})" for x, y in zip(p["x"], p["y"])]
        yy = np.arange(len(p))
        bx.errorbar(
            p["p_x_better"],
            yy,
            xerr=[p["p_x_better"] - p["p_low"], p["p_high"] - p["p_x_better"]],
            fmt="o",
            color="k",
            capsize=3,
        )
        bx.axvline(0.5, color="gray", ls=":")
        bx.set(
            yticks=yy,
            yticklabels=labels,
            xlim=(0, 1),
            xlabel="probability of improvement (bootstrap interval)",
            title=env,
        )
        bx.invert_yaxis()
        fig.tight_layout()
        out.append(
            Figure(
                f"comparison_{env}",
                f"Algorithm comparison: {env}",
                "Left: interquartile mean of the final reward per algorithm with its "
                "bootstrap interval over the seeds of each algorithm's best setting "
                "(BCa from 5 seeds, percentile below and then not 95%; the comparison "
                "table names each). Right: probability that a random run of one "
                f"algorithm beats one of the other. Final reward: {ctx.definition}.",
                fig,
            )
        )
    return out
