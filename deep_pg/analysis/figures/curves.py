"""Figures from the per-iteration metrics: reward curves (paper Fig. 8) and the trust region
over training (blog part 3: mean KL with TRPO's δ, max ratio with PPO's 1+ε), all over env steps."""

from __future__ import annotations

import pandas as pd

from deep_pg.analysis.figures.common import (
    Figure,
    MissingData,
    algo_colors,
    grid,
    log_axis,
    mean_band,
    ordered,
    steps_axis,
    steps_per_iter,
)
from deep_pg.analysis.settings import arms

SMOOTH = 5  # iterations in the rolling mean of the reward curves (single iterations are noisy)
# The most mean lines a panel draws one per setting (`analysis.settings`); a study with more (a
# 16-way ablation × learning rates) gets one line per algorithm, its label saying it pools.
MAX_SETTING_LINES = 8


def _per_env_algo(runs, metric: str):
    """The metric's rows with env and ``line``: the mean line a run belongs to."""
    curves = runs.curves
    if metric not in curves or curves[metric].notna().sum() == 0:
        raise MissingData(f"no run logged {metric}")
    configs = runs.configs.assign(arm=arms(runs.configs))
    data = (
        curves[["run_id", "iteration", "env_steps", metric]]
        .merge(configs[["run_id", "algo", "arm", "env"]], on="run_id")
        .dropna(subset=[metric])
    )
    too_many = data.groupby("env")["arm"].transform("nunique") > MAX_SETTING_LINES
    settings = data.groupby(["env", "algo"])["arm"].transform("nunique")
    pooled = data["algo"] + " (" + settings.astype(str) + " settings pooled)"
    return data.assign(line=data["arm"].where(~too_many | (settings == 1), pooled))


def _draw_lines(ax, data: pd.DataFrame, metric: str, x: str, colors, smooth: int = 1):
    for line in ordered(data["line"].unique()):
        part = data[data["line"] == line]
        wide = part.pivot_table(index="run_id", columns=x, values=metric)
        if smooth > 1:
            wide = wide.T.rolling(smooth, min_periods=1).mean().T
        for _, row in wide.iterrows():
            ax.plot(wide.columns, row.to_numpy(), color=colors[line], lw=0.6, alpha=0.35)
        mean, low, high = mean_band(wide.to_numpy(float))
        ax.plot(wide.columns, mean, color=colors[line], lw=2, label=f"{line} (n={len(wide)})")
        ax.fill_between(wide.columns, low, high, color=colors[line], alpha=0.2, lw=0)


def reward_curves(runs, ctx) -> list[Figure]:
    data = _per_env_algo(runs, "return_mean")
    envs = sorted(data["env"].unique())
    colors = algo_colors(data["line"].unique())
    fig, axes = grid(len(envs), width=5.0, height=3.6, max_cols=3)
    for ax, env in zip(axes, envs):
        part = data[data["env"] == env]
        _draw_lines(ax, part, "return_mean", "env_steps", colors, smooth=SMOOTH)
        ax.set(title=env, ylabel="mean return")
        steps_axis(ax, steps_per_iter(runs, part["run_id"]))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return [
        Figure(
            "reward_curves",
            "Reward curves (paper Fig. 8)",
            f"Mean training return per iteration (rolling mean over {SMOOTH} iterations). "
            "Thin lines: individual runs; thick: mean over the runs of a setting (its "
            "seeds, n in the legend) with its t-interval (nominal 95%; not called 95% "
            "below 5 seeds).",
            fig,
        )
    ]


# The bound each family promises: TRPO's mean-KL δ, PPO's ratio 1+ε.
_BOUNDS = {
    "mean_kl": ("trpo", "algo.max_kl", 0.0, "δ"),
    "max_ratio": ("ppo", "algo.clip_eps", 1.0, "1+ε"),
}


def _bound_lines(ax, configs, algos, metric) -> bool:
    """Dashed bound lines of the algorithms that promise one (one per value its runs set);
    whether any was drawn."""
    family, key, offset, symbol = _BOUNDS[metric]
    drawn = False
    for algo in algos:
        cfg = configs[configs["algo"] == algo]
        if key not in cfg or (cfg["family"] != family).all():
            continue
        for value in sorted(cfg[key].dropna().unique()):
            ax.axhline(
                offset + float(value),
                color="0.4",
                ls="--",
                lw=1,
                label=f"{symbol} = {value:g} ({algo})",
            )
            drawn = True
    return drawn


def trust_region_curves(runs, ctx) -> list[Figure]:
    out = []
    for metric, label in (
        ("mean_kl", "mean KL(π_old‖π_new)"),
        ("max_ratio", "max ratio π_new/π_old"),
    ):
        data = _per_env_algo(runs, metric)
        envs = sorted(data["env"].unique())
        colors = algo_colors(data["line"].unique())
        fig, axes = grid(len(envs), width=5.0, height=3.6, max_cols=3)
        bounds = False
        for ax, env in zip(axes, envs):
            part = data[data["env"] == env]
            _draw_lines(ax, part, metric, "env_steps", colors)
            env_configs = runs.configs[runs.configs["env"] == env]
            bounds |= _bound_lines(ax, env_configs, ordered(part["algo"].unique()), metric)
            ax.set(title=env, ylabel=label)
            log_axis(ax, "y")
            steps_axis(ax, steps_per_iter(runs, part["run_id"]))
            ax.legend(fontsize=8)
        fig.tight_layout()
        bound = ""
        if bounds:
            bound = (
                ", with TRPO's δ (dashed)" if metric == "mean_kl" else ", with PPO's 1+ε (dashed)"
            )
        out.append(
            Figure(
                f"trust_region_{metric}",
                f"Trust region: {label} (blog part 3)",
                f"{label} between successive policies on the training batch, every "
                f"iteration{bound}. Thin: runs; thick: mean over the n runs in the "
                "legend with its t-interval (nominal 95%; not called 95% below 5 "
                "runs).",
                fig,
            )
        )
    return out
