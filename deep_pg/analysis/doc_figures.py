"""The figures of docs/reproduction.md, one per finding, drawn from the committed results:

    python -m deep_pg.analysis.doc_figures results/ --out docs/figures

Each shows the agents (seeds) themselves beside their mean, so that a reader of the page on
GitHub sees how far three agents agree; the numbers behind each are in the report's tables
(``deep-pg-report results/``). Intervals are those of ``analysis.stats``: t-intervals over
agents, never called 95% below 5 of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from deep_pg import exits
from deep_pg.analysis.agent_claims import agent_values
from deep_pg.analysis.errors import AnalysisError
from deep_pg.analysis.figures.common import PRACTICE_SAMPLES, algo_colors, log_axis
from deep_pg.analysis.figures.outcomes import paired_effect_bars
from deep_pg.analysis.final import final_rewards
from deep_pg.analysis.landscape_summary import landscape_tables
from deep_pg.analysis.runs import Runs, load_runs
from deep_pg.analysis.stats import t_interval
from deep_pg.analysis.toggle_pairs import ANY, paired_effects
from deep_pg.analysis.trust_region import per_run
from deep_pg.analysis.verdict_r import PUBLISHED, r_tables, strip_figure

DPI = 80
ENVS = ("hopper", "walker2d")
# Final returns at 1M steps of "Implementation Matters in Deep Policy Gradients: A Case Study on
# PPO and TRPO" (Engstrom et al., ICLR 2020, arXiv 2005.12729), Table 2, drawn beside ours.
ALGOS = ["ppo", "ppo_m", "trpo", "trpo_plus"]
# Which study holds which agents' probes (per env): the iteration-0 agents of R_iter0 are the
# initial agents of the later sets (the initial networks depend only on the seed).
GRADIENT_SOURCES = {
    ("ppo", "hopper"): ["R_iter0", "R_hopper"],
    ("ppo", "walker2d"): ["R_walker2d_rerun2", "R_walker2d"],
    ("trpo", "hopper"): ["R_iter0", "R_hopper_rerun2"],
    ("trpo", "walker2d"): ["R_walker2d_rerun2"],
    ("ppo_m", "hopper"): ["R_ppo_m"],
    ("ppo_m", "walker2d"): ["R_ppo_m"],
}
BASELINE_SOURCES = {
    ("ppo", "hopper"): ["R_iter0", "R_hopper_rerun"],
    ("ppo", "walker2d"): ["R_iter0", "R_walker2d_rerun", "R_walker2d_rerun2"],
    ("trpo", "hopper"): ["R_iter0", "R_hopper_rerun2"],
    ("trpo", "walker2d"): ["R_iter0", "R_walker2d_rerun2"],
}
LANDSCAPE_SOURCES = BASELINE_SOURCES
# R's agents: the Table 1 studies per env, then more seeds of some of their cells
FINAL_SOURCES = {
    "hopper": ["R_hopper", "R_table1_v5_ppo"],
    "walker2d": ["R_walker2d", "R_table1_v5_ppo"],
    "humanoid": ["R_humanoid"],
}
# the companion paper's released settings on gymnasium's v4 tasks
RELEASED_SOURCES = ["R_released_v4_hopper", "R_released_v4_walker2d", "R_released_v4_humanoid"]


class Studies:
    """The committed studies, each loaded once."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._runs: dict[str, Runs] = {}

    def __call__(self, study: str):
        if study not in self._runs:
            path = self.root / study
            if not path.is_dir():
                raise AnalysisError(f"{path}: no such study (the figures need {study})")
            self._runs[study] = load_runs(path, progress=False)
        return self._runs[study]


def _agents(studies, sources, frame_of) -> pd.DataFrame:
    """The rows ``frame_of(runs)`` gives for each (algo, env) from its studies, where a later
    study's rows replace an earlier one's at the same iteration (its agents are the ones whose
    later checkpoints it holds)."""
    parts = []
    for (algo, env), names in sources.items():
        for order, name in enumerate(names):
            rows = frame_of(studies(name))
            rows = rows[(rows["algo"] == algo) & (rows["env"] == env)]
            parts.append(rows.assign(study=name, order=order))
    frame = pd.concat(parts, ignore_index=True)
    keep = frame.groupby(["algo", "env", "iteration"])["order"].transform("max")
    frame = frame[frame["order"] == keep]
    # an agent is a seed of one study; the initial agents (iteration 0) start the lines of the
    # study that holds the seed's next checkpoint
    later = frame[frame["iteration"] > 0].sort_values("iteration")
    next_study = later.groupby(["algo", "env", "seed"])["study"].first()
    study = [
        next_study.get((a, e, seed), s) if it == 0 else s
        for a, e, seed, it, s in zip(
            frame["algo"], frame["env"], frame["seed"], frame["iteration"], frame["study"]
        )
    ]
    return frame.assign(agent=[f"{s}:{seed}" for s, seed in zip(study, frame["seed"])])


def _mean_with_interval(ax, x, values, color, **kw):
    mean, low, high = t_interval(values)
    ax.errorbar(
        [x],
        [mean],
        yerr=[[mean - low], [high - mean]] if np.isfinite(low) else None,
        fmt="s",
        color=color,
        ms=6,
        capsize=4,
        lw=1.5,
        **kw,
    )


def final_returns(studies) -> plt.Figure:
    """R: each seed's final return per algorithm and environment, the mean with its t-interval,
    and the published number."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    colors = algo_colors(ALGOS)
    for ax, (env, names) in zip(axes, FINAL_SOURCES.items()):
        final = pd.concat([final_rewards(studies(name)) for name in names], ignore_index=True)
        final = final[(final["env"] == env) & (final["status"] == "completed")]
        counts = []
        for i, algo in enumerate(ALGOS):
            values = final.loc[final["algo"] == algo, "final_return"].to_numpy(float)
            counts.append(f"{algo}\nn={len(values)}")
            ax.scatter(np.full(len(values), i - 0.15), values, color=colors[algo], s=18, alpha=0.8)
            _mean_with_interval(ax, i + 0.1, values, colors[algo])
            ax.scatter(
                [i + 0.1],
                [PUBLISHED[(env, algo)]],
                marker="x",
                color="k",
                s=40,
                zorder=5,
                label="published" if i == 0 else None,
            )
        ax.set(
            title=f"{env} (1M steps)",
            xticks=range(len(ALGOS)),
            xticklabels=counts,
            ylabel="final return",
        )
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(
        "Dots: seeds; square: mean with t-interval (95% where n >= 5); x: companion paper, Table 2",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def released_returns(studies) -> plt.Figure:
    """R with the companion's released settings on v4: each seed's final return per algorithm and
    environment, the cell's t-interval and the published mean (``verdict_r.strip_figure``)."""
    final = pd.concat(
        [final_rewards(studies(name)) for name in RELEASED_SOURCES], ignore_index=True
    )
    cells, _ = r_tables(final)
    return strip_figure(final, cells)


def gradient_variance(studies) -> plt.Figure:
    """F1: pairwise similarity of gradient estimates against sample count, per iteration,
    PPO's agents (mean over 3 agents with t-interval)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    sources = {k: v for k, v in GRADIENT_SOURCES.items() if k[0] == "ppo"}
    rows = _agents(studies, sources, lambda runs: agent_values(runs, "gradient"))
    rows = rows[(rows["variant"] == "gradient") & (rows["measure"] == "pairwise")]
    cmap = plt.get_cmap("viridis")
    for ax, env in zip(axes, ENVS):
        part = rows[rows["env"] == env]
        for it in sorted(part["iteration"].unique()):
            at = part[part["iteration"] == it]
            stats = [(n, *t_interval(g["value"])) for n, g in at.groupby("sample_count")]
            n, mean, low, high = map(np.array, zip(*stats))
            color = cmap(it / 500)
            ax.plot(n, mean, "o-", color=color, label=f"iteration {it}")
            ax.fill_between(n, low, high, color=color, alpha=0.15, lw=0)
        ax.axvline(PRACTICE_SAMPLES, color="k", ls=":", lw=1)
        log_axis(ax, "x")
        ax.set(title=f"PPO, {env}", xlabel="state-action pairs per estimate", ylim=(-0.3, 1.1))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean pairwise cosine similarity")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "Mean over 3 agents with t-interval (n = 3); dotted: 2,048 pairs, a training batch",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _per_agent_lines(ax, part, value="value", x="iteration", color="C0"):
    for _, agent in part.groupby("agent" if "agent" in part else "seed"):
        agent = agent.sort_values(x)
        ax.plot(agent[x], agent[value], "o-", color=color, alpha=0.45, lw=1, ms=3)
    means = [(xv, *t_interval(g[value])) for xv, g in part.groupby(x)]
    if means:
        xs, mean, low, high = map(np.array, zip(*means))
        ax.plot(xs, mean, "s-", color=color, lw=2, ms=5)
        ax.fill_between(xs, low, high, color=color, alpha=0.12, lw=0)


def true_gradient(studies) -> plt.Figure:
    """F2: each agent's noise-corrected similarity to the true gradient at 10,000 pairs, over
    training."""
    rows = _agents(studies, GRADIENT_SOURCES, lambda runs: agent_values(runs, "gradient"))
    rows = rows[
        (rows["variant"] == "gradient")
        & (rows["measure"] == "true_corrected")
        & (rows["sample_count"] == 10000)
    ]
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.2), sharex=True, sharey=True)
    colors = algo_colors(ALGOS)
    for i, env in enumerate(ENVS):
        for j, algo in enumerate(("ppo", "ppo_m", "trpo")):
            ax = axes[i, j]
            _per_agent_lines(
                ax, rows[(rows["env"] == env) & (rows["algo"] == algo)], color=colors[algo]
            )
            ax.set(title=f"{algo}, {env}", ylim=(0, 1.05))
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("iteration")
    for ax in axes[:, 0]:
        ax.set_ylabel("similarity to true gradient")
    fig.suptitle("Thin: agents (seeds 0–2); thick: mean with t-interval (n = 3)", fontsize=9)
    fig.tight_layout()
    return fig


def value_error(studies) -> plt.Figure:
    """F3: held-out mean relative error of the value network against its GAE targets and
    against returns (ours and the released code's definition), per agent."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    measures = [
        ("gae", "GAE targets"),
        ("returns", "returns (ours)"),
        ("ref_returns", "returns (released code)"),
    ]
    for ax, env in zip(axes, ENVS):
        rows = agent_values(studies(f"R_{env}"), "value")
        rows = rows[(rows["variant"] == "heldout") & (rows["iteration"] == 450)]
        for k, (measure, label) in enumerate(measures):
            for i, algo in enumerate(ALGOS):
                values = rows.loc[(rows["algo"] == algo) & (rows["measure"] == measure), "value"]
                x = i + (k - 1) * 0.25
                ax.scatter(
                    np.full(len(values), x),
                    values,
                    color=f"C{k}",
                    s=14,
                    alpha=0.7,
                    label=label if i == 0 else None,
                )
        ax.set(
            title=f"{env}, iteration 450, held-out batch",
            xticks=range(len(ALGOS)),
            xticklabels=ALGOS,
        )
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("mean relative error")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def baseline_gaps(studies) -> plt.Figure:
    """F4: each agent's gap in pairwise similarity at 100,000 pairs, true value − value net and
    value net − zero, per iteration."""
    rows = _agents(studies, BASELINE_SOURCES, lambda runs: agent_values(runs, "baselines"))
    rows = rows[(rows["measure"] == "pairwise") & (rows["sample_count"] == 100000)]
    wide = rows.pivot_table(
        index=["algo", "env", "iteration", "seed"], columns="variant", values="value"
    ).reset_index()
    wide = wide.assign(
        **{
            "true value − value net": wide["true_value"] - wide["value_net"],
            "value net − zero": wide["value_net"] - wide["zero"],
        }
    )
    fig, axes = plt.subplots(2, 2, figsize=(9, 5.2), sharex=True, sharey=True)
    for i, env in enumerate(ENVS):
        for j, algo in enumerate(("ppo", "trpo")):
            ax = axes[i, j]
            part = wide[(wide["env"] == env) & (wide["algo"] == algo)]
            for k, gap in enumerate(("true value − value net", "value net − zero")):
                _per_agent_lines(ax, part, value=gap, color=f"C{k + 2}")
                ax.plot([], [], color=f"C{k + 2}", label=gap)
            ax.axhline(0, color="k", lw=0.8)
            ax.set(title=f"{algo}, {env}")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("iteration")
    for ax in axes[:, 0]:
        ax.set_ylabel("gap in similarity (1e5 pairs)")
    fig.suptitle(
        "Thin: agents (a line per agent; PPO Walker2d's iteration-300 agents are "
        "another set); thick: mean with t-interval (n = 3)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _landscape_runs(runs) -> pd.DataFrame:
    """The landscape's per-run measures (``landscape_summary``)."""
    return landscape_tables(runs)[1]


def _landscape_figure(studies, measure: str, sample_count, ylabel: str, title: str) -> plt.Figure:
    """Per (env, algo), step regime (rows) and agent: one landscape measure over training."""
    rows = _agents(studies, LANDSCAPE_SOURCES, _landscape_runs)
    rows = rows[rows["measure"] == measure]
    if sample_count is not None:
        rows = rows[rows["sample_count"] == sample_count]
    fig, axes = plt.subplots(2, 4, figsize=(12, 5.2), sharex=True, sharey=True)
    colors = algo_colors(ALGOS)
    for j, (env, algo) in enumerate([(e, a) for e in ENVS for a in ("ppo", "trpo")]):
        for i, step in enumerate((2048, 100000)):
            ax = axes[i, j]
            _per_agent_lines(
                ax,
                rows[
                    (rows["env"] == env) & (rows["algo"] == algo) & (rows["step_samples"] == step)
                ],
                color=colors[algo],
            )
            ax.axhline(0, color="k", lw=0.8)
            ax.set(title=f"{algo}, {env}", ylim=(-1.05, 1.05))
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel(f"{ylabel}\n(step from {step:,} pairs)", fontsize=9)
    for ax in axes[1]:
        ax.set_xlabel("iteration")
    fig.suptitle(f"{title} Thin: agents; thick: mean with t-interval (n = 3)", fontsize=9)
    fig.tight_layout()
    return fig


def concentration(studies) -> plt.Figure:
    """F5: per agent, how well 2,000 pairs per point rank the grid's points against 100,000."""
    return _landscape_figure(
        studies,
        "rank_vs_largest",
        2000,
        "rank corr., 2,000 vs 1e5 pairs",
        "Spearman correlation over the 7 × 7 grid of the return at 2,000 "
        "pairs per point with the return at 100,000.",
    )


def surrogate(studies) -> plt.Figure:
    """F6: per agent, how the surrogate ranks the grid against the true return."""
    return _landscape_figure(
        studies,
        "surrogate_rank",
        None,
        "rank corr., surrogate vs return",
        "Spearman correlation over the 7 × 7 grid of the surrogate with "
        "the return (1e5 pairs per point).",
    )


def trust_region(studies) -> plt.Figure:
    """F7: each run's median max ratio π_new/π_old, per algorithm and environment, with PPO's
    1 + ε and PPO-M at PPO's learning rates."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    colors = algo_colors(ALGOS)
    for k, env in enumerate(("hopper", "walker2d", "humanoid")):
        runs = studies(f"R_{env}")
        rows = per_run(runs.curves, runs.configs)
        for i, algo in enumerate(ALGOS):
            values = rows.loc[rows["algo"] == algo, "median_max_ratio"]
            x = k * 5 + i
            ax.scatter(
                np.full(len(values), x),
                values,
                color=colors[algo],
                s=18,
                label=algo if k == 0 else None,
            )
    extra = studies("F7_ppo_m_lr")
    values = per_run(extra.curves, extra.configs)["median_max_ratio"]
    ax.scatter(
        np.full(len(values), 4),
        values,
        marker="^",
        color=colors["ppo_m"],
        s=24,
        label="ppo_m at PPO's learning rates",
    )
    ax.axhline(1.2, color="k", ls="--", lw=1, label="1 + ε (PPO)")
    ax.set(
        xticks=[1.5, 6.5, 11.5],
        xticklabels=["hopper", "walker2d", "humanoid"],
        ylabel="median over iterations of max ratio",
    )
    log_axis(ax, "y")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def ablation(studies) -> plt.Figure:
    """F8: each toggle's paired effect on final return, over all pairs and split by reward
    scaling, with the hierarchical interval (seeds, then pairs)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, env in zip(axes, ("hopper", "humanoid")):
        final = final_rewards(studies(f"F8_{env}"))
        effects = paired_effects(final[final["status"] == "completed"])
        rows = effects[(effects["given"] == ANY) | (effects["given"] == "opt.reward_scaling")]
        rows = rows[rows["toggle"] != "opt.reward_scaling"].reset_index(drop=True)
        extra = effects[
            (effects["toggle"] == "opt.reward_scaling")
            & (effects["given"].isin([ANY, "opt.value_clip"]))
        ]
        rows = pd.concat([rows, extra], ignore_index=True)
        y = np.arange(len(rows))
        paired_effect_bars(ax, rows, y)
        labels = [
            t.removeprefix("opt.") + ("" if g == ANY else f" | {g.removeprefix('opt.')} {s}")
            for t, g, s in zip(rows["toggle"], rows["given"], rows["given_state"])
        ]
        ax.set(
            yticks=y,
            yticklabels=labels,
            xlabel="final return, on − off (paired)",
            title=f"PPO, {env} ({rows['n_seeds'].iloc[0]} seeds)",
        )
        ax.tick_params(axis="y", labelsize=8)
        ax.axvline(0, color="gray", ls=":")
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        "Mean paired difference with its hierarchical bootstrap interval (seeds, then "
        "pairs; not a 95% interval with 2–3 seeds)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


# file name (without .png) → builder; the page links each as docs/figures/<name>.png
FIGURES = {
    "R_final_returns": final_returns,
    "R_released_v4": released_returns,
    "F1_gradient_variance": gradient_variance,
    "F2_true_gradient": true_gradient,
    "F3_value_error": value_error,
    "F4_baseline_gaps": baseline_gaps,
    "F5_concentration": concentration,
    "F6_surrogate": surrogate,
    "F7_max_ratio": trust_region,
    "F8_paired_effects": ablation,
}


def make_figures(results: Path, out: Path, names=None) -> list[Path]:
    """Draw ``names`` (default: all of FIGURES) from the studies under ``results`` into
    ``out``; returns the files written."""
    studies, written = Studies(results), []
    out.mkdir(parents=True, exist_ok=True)
    for name in names or FIGURES:
        fig = FIGURES[name](studies)
        path = out / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deep_pg.analysis.doc_figures", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("results", type=Path, help="the results folder (results/)")
    parser.add_argument("--out", type=Path, required=True, help="e.g. docs/figures")
    parser.add_argument("--only", nargs="*", choices=sorted(FIGURES), help="some figures only")
    args = parser.parse_args(argv)
    try:
        for path in make_figures(args.results, args.out, args.only):
            print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    except AnalysisError as err:
        exits.fail(str(err), program="doc_figures")


if __name__ == "__main__":
    main()
