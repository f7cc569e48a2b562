"""Figures from the per-iteration metrics: reward curves (paper Fig. 8) and the trust region
over training (blog part 3: mean KL with TRPO's δ, max ratio with PPO's 1+ε), all over env steps."""
from __future__ import annotations

import pandas as pd

from analysis.figures.common import (Figure, MissingData, algo_colors, grid, log_axis, mean_band,
                                     ordered, steps_axis, steps_per_iter)

SMOOTH = 5  # iterations in the rolling mean of the reward curves (single iterations are noisy)


def _per_env_algo(runs, metric: str):
    curves = runs.curves
    if metric not in curves or curves[metric].notna().sum() == 0:
        raise MissingData(f"no run logged {metric}")
    data = curves[["run_id", "iteration", "env_steps", metric]].merge(
        runs.configs[["run_id", "algo", "env"]], on="run_id")
    return data.dropna(subset=[metric])


def _draw_algo_lines(ax, data: pd.DataFrame, metric: str, x: str, colors, smooth: int = 1):
    for algo in ordered(data["algo"].unique()):
        part = data[data["algo"] == algo]
        wide = part.pivot_table(index="run_id", columns=x, values=metric)
        if smooth > 1:
            wide = wide.T.rolling(smooth, min_periods=1).mean().T
        for _, row in wide.iterrows():
            ax.plot(wide.columns, row.to_numpy(), color=colors[algo], lw=0.6, alpha=0.35)
        mean, low, high = mean_band(wide.to_numpy(float))
        ax.plot(wide.columns, mean, color=colors[algo], lw=2,
                label=f"{algo} (n={len(wide)})")
        ax.fill_between(wide.columns, low, high, color=colors[algo], alpha=0.2, lw=0)


def reward_curves(runs, ctx) -> list[Figure]:
    data = _per_env_algo(runs, "return_mean")
    envs = sorted(data["env"].unique())
    colors = algo_colors(data["algo"].unique())
    fig, axes = grid(len(envs), width=5.0, height=3.6, max_cols=3)
    for ax, env in zip(axes, envs):
        part = data[data["env"] == env]
        _draw_algo_lines(ax, part, "return_mean", "env_steps", colors, smooth=SMOOTH)
        ax.set(title=env, ylabel="mean return")
        steps_axis(ax, steps_per_iter(runs, part["run_id"]))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return [Figure("reward_curves", "Reward curves (paper Fig. 8)",
                   f"Mean training return per iteration (rolling mean over {SMOOTH} iterations). "
                   "Thin lines: individual runs; thick: mean over runs with 95% bootstrap CI.",
                   fig)]


# The bound each family promises: TRPO's mean-KL δ, PPO's ratio 1+ε.
_BOUNDS = {"mean_kl": ("trpo", "algo.max_kl", 0.0, "δ"),
           "max_ratio": ("ppo", "algo.clip_eps", 1.0, "1+ε")}


def _bound_lines(ax, configs, algos, metric, colors) -> bool:
    """Dashed bound lines of the algorithms that promise one; whether any was drawn."""
    family, key, offset, symbol = _BOUNDS[metric]
    drawn = False
    for algo in algos:
        cfg = configs[configs["algo"] == algo]
        if key not in cfg or (cfg["family"] != family).all():
            continue
        value = cfg[key].dropna()
        if len(value):
            ax.axhline(offset + float(value.iloc[0]), color=colors[algo], ls="--", lw=1,
                       label=f"{symbol} ({algo})")
            drawn = True
    return drawn


def trust_region_curves(runs, ctx) -> list[Figure]:
    out = []
    for metric, label in (("mean_kl", "mean KL(π_old‖π_new)"), ("max_ratio", "max ratio π_new/π_old")):
        data = _per_env_algo(runs, metric)
        envs = sorted(data["env"].unique())
        colors = algo_colors(data["algo"].unique())
        fig, axes = grid(len(envs), width=5.0, height=3.6, max_cols=3)
        bounds = False
        for ax, env in zip(axes, envs):
            part = data[data["env"] == env]
            _draw_algo_lines(ax, part, metric, "env_steps", colors)
            bounds |= _bound_lines(ax, runs.configs, ordered(part["algo"].unique()), metric,
                                   colors)
            ax.set(title=env, ylabel=label)
            log_axis(ax, "y")
            steps_axis(ax, steps_per_iter(runs, part["run_id"]))
            ax.legend(fontsize=8)
        fig.tight_layout()
        bound = ""
        if bounds:
            bound = (", with TRPO's δ (dashed)" if metric == "mean_kl"
                     else ", with PPO's 1+ε (dashed)")
        out.append(Figure(f"trust_region_{metric}", f"Trust region: {label} (blog part 3)",
                          f"{label} between successive policies on the training batch, every "
                          f"iteration{bound}. Thin: runs; thick: mean with 95% CI.", fig))
    return out
