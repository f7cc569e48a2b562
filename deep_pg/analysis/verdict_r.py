"""The final-return comparison with the published table, by the rule in docs/preregistration.md.

Everything here is that page's rule as code: the t-interval of a cell's mean (analysis.stats),
its verdict against the published mean, Welch comparisons between algorithms, and the power of
each (the smallest difference its n could detect, and the seeds a given difference would need),
exact through the noncentral t distribution (statsmodels for one sample, scipy for Welch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from deep_pg.analysis import power
from deep_pg.analysis.stats import t_interval

# The companion paper's table (Engstrom et al., ICLR 2020, arXiv 2005.12729): mean reward of the
# released configurations on gym's -v2 tasks.
PUBLISHED = {
    ("hopper", "ppo"): 2513.0,
    ("hopper", "ppo_m"): 2142.0,
    ("hopper", "trpo"): 2043.0,
    ("hopper", "trpo_plus"): 2466.0,
    ("walker2d", "ppo"): 3292.0,
    ("walker2d", "ppo_m"): 2735.0,
    ("walker2d", "trpo"): 2791.0,
    ("walker2d", "trpo_plus"): 3050.0,
    ("humanoid", "ppo"): 806.0,
    ("humanoid", "ppo_m"): 674.0,
    ("humanoid", "trpo"): 586.0,
    ("humanoid", "trpo_plus"): 1030.0,
}
# The companion paper's claims, as (higher, lower) pairs of algorithms within one environment.
COMPARISONS = (("ppo", "ppo_m"), ("trpo_plus", "trpo"), ("trpo_plus", "ppo"))

LEVEL = 0.95  # two-sided
ALPHA = 1 - LEVEL
POWER = 0.8
MIN_RUNS = 5  # fewer runs: no verdict, and the interval is not called 95%
MAX_HALF_WIDTH = 0.20  # of the published mean, for "reproduced"
PUBLISHED_BAND = 0.05  # of the published mean: "below"/"above" need a miss larger than this
PLANNING_DIFFERENCE = 0.10  # of the published mean: what the seeds-needed column plans for


@dataclass(frozen=True)
class Cell:
    """One cell's interval and verdict."""

    n: int
    mean: float
    low: float
    high: float
    published: float | None
    verdict: str  # reproduced | below | above | inconclusive | too few runs | no published value
    detectable: float  # smallest |mean - published| a one-sample t-test detects at this n
    seeds_needed: int | None  # for a difference of PLANNING_DIFFERENCE * published


def verdict(published: float, low: float, high: float) -> str:
    """docs/preregistration.md: reproduced | below | above | inconclusive."""
    if high < (1 - PUBLISHED_BAND) * published:
        return "below"
    if low > (1 + PUBLISHED_BAND) * published:
        return "above"
    if low <= published <= high and (high - low) / 2 <= MAX_HALF_WIDTH * published:
        return "reproduced"
    return "inconclusive"


def _power(effect: float, df: float, scale: float) -> float:
    """Power of a two-sided t-test with ``df`` degrees of freedom for a true difference ``effect``
    whose standard error is ``scale``."""
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    nc = effect / scale
    power = float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
    return 1.0 if math.isnan(power) else power  # nct's tails underflow at very large nc


def detectable_difference(sd: float, n: int) -> float:
    """Smallest difference a one-sample t-test over n runs with standard deviation ``sd``
    detects with probability POWER at two-sided level ALPHA (analysis.power)."""
    return power.min_detectable(sd, n, paired=True)


def seeds_needed(sd: float, difference: float) -> int | None:
    """Runs a one-sample t-test needs to detect ``difference`` with probability POWER."""
    n = power.units_needed(difference, sd, paired=True)
    return None if math.isnan(n) else int(n)


def cell(values: Sequence[float], published: float | None) -> Cell:
    """A cell's interval, verdict and power from its runs' final returns."""
    x = np.asarray(values, dtype=float)
    mean, low, high = t_interval(x)
    sd = float(x.std(ddof=1)) if len(x) > 1 else math.nan
    if published is None:
        label = "no published value"
    elif len(x) < MIN_RUNS:
        label = "too few runs"
    else:
        label = verdict(published, low, high)
    needed = None if published is None else seeds_needed(sd, PLANNING_DIFFERENCE * published)
    return Cell(
        len(x), mean, low, high, published, label, detectable_difference(sd, len(x)), needed
    )


@dataclass(frozen=True)
class Comparison:
    """Welch's interval of mean(a) - mean(b) and what it says."""

    difference: float
    low: float
    high: float
    df: float
    verdict: str  # higher | lower | no difference detected | too few runs
    detectable: float  # smallest difference Welch's test detects at these n and SDs


def welch(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Comparison:
    """Welch's two-sided t-interval of mean(a) - mean(b)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(x.mean() - y.mean())
    if min(len(x), len(y)) < 2:
        return Comparison(diff, math.nan, math.nan, math.nan, "too few runs", math.nan)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    low, high = diff - half, diff + half
    if min(len(x), len(y)) < MIN_RUNS:
        label = "too few runs"
    elif low > 0:
        label = "higher"
    elif high < 0:
        label = "lower"
    else:
        label = "no difference detected"
    detectable = float(optimize.brentq(lambda d: _power(d, df, se) - POWER, 1e-9 * se, 100 * se))
    return Comparison(diff, low, high, float(df), label, detectable)


def run_preset(info) -> str:
    """``released`` for a run made with the released code's semantics (setting=released), else
    ``paper``; read from the config keys the setting sets (runs made before those keys existed
    have them missing: they are ``paper`` runs)."""
    released = (
        info.get("env.reset_each_iteration") is True
        and info.get("opt.grad_clip_scope") == "ppo_policy"
        and info.get("env.timeout_bootstrap") is False
    )
    return "released" if released else "paper"


def with_preset(final):
    """``final`` with each run's ``preset`` (``run_preset``) as a column."""
    return final.assign(preset=[run_preset(row) for row in final.to_dict("records")])


def r_tables(final):
    """(cells, comparisons) DataFrames from ``analysis.final.final_rewards`` rows: one cell per
    (preset, env_id, algo) with its interval, verdict and power; one row per companion claim
    (COMPARISONS) within each (preset, env_id). Failed runs are listed, not judged."""
    import pandas as pd

    df = with_preset(final)
    done = df[df["status"] == "completed"]
    rows, pairs = [], []
    for (preset, env_id, env, algo), group in done.groupby(["preset", "env_id", "env", "algo"]):
        c = cell(group["final_return"].to_numpy(), PUBLISHED.get((env, algo)))
        failed = int(
            (
                (df["preset"] == preset)
                & (df["env_id"] == env_id)
                & (df["algo"] == algo)
                & (df["status"] != "completed")
            ).sum()
        )
        rows.append(
            {
                "preset": preset,
                "env_id": env_id,
                "env": env,
                "algo": algo,
                "n": c.n,
                "failed": failed,
                "mean": c.mean,
                "t_low": c.low,
                "t_high": c.high,
                "published": c.published,
                "verdict": c.verdict,
                "detectable": c.detectable,
                "seeds_needed_10pct": c.seeds_needed,
                "seeds": ",".join(str(s) for s in sorted(group["seed"])),
            }
        )
    for (preset, env_id), group in done.groupby(["preset", "env_id"]):
        by_algo = {a: g["final_return"].to_numpy() for a, g in group.groupby("algo")}
        for hi, lo in COMPARISONS:
            if hi in by_algo and lo in by_algo:
                w = welch(by_algo[hi], by_algo[lo])
                pairs.append(
                    {
                        "preset": preset,
                        "env_id": env_id,
                        "comparison": f"{hi} - {lo}",
                        "n": f"{len(by_algo[hi])} vs {len(by_algo[lo])}",
                        "difference": w.difference,
                        "welch_low": w.low,
                        "welch_high": w.high,
                        "verdict": w.verdict,
                        "detectable": w.detectable,
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(pairs)


def best_returns(runs):
    """Each run's largest per-iteration mean return (the secondary outcome), by run_id."""
    from deep_pg.analysis.final import FinalReward, final_rewards

    return final_rewards(runs, FinalReward("max")).set_index("run_id")["final_return"]


def strip_figure(final, cells):
    """Every run's final return per (environment, algorithm), its cell's t-interval (called 95%
    from MIN_RUNS runs) and the published mean: the figure of R, one panel per (preset, env)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = with_preset(final[final["status"] == "completed"])
    panels = sorted(cells.groupby(["preset", "env_id"]).groups)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    rng = np.random.default_rng(0)  # horizontal jitter only
    interval_label = (
        "mean, 95% t-interval"
        if cells["n"].min() >= MIN_RUNS
        else f"mean, t-interval (called 95% only where n >= {MIN_RUNS})"
    )
    for ax, (preset, env_id) in zip(axes[0], panels):
        here = cells[(cells["preset"] == preset) & (cells["env_id"] == env_id)]
        for i, c in enumerate(here.itertuples()):
            y = df[(df["preset"] == preset) & (df["env_id"] == env_id) & (df["algo"] == c.algo)]
            ax.scatter(
                i + rng.uniform(-0.12, 0.12, len(y)),
                y["final_return"],
                s=12,
                color="0.35",
                zorder=3,
            )
            ax.errorbar(
                i + 0.3,
                c.mean,
                yerr=[[c.mean - c.t_low], [c.t_high - c.mean]],
                fmt="o",
                color="C0",
                capsize=3,
                label=interval_label if i == 0 else None,
            )
            if c.published == c.published:  # not NaN
                ax.scatter(
                    i + 0.3,
                    c.published,
                    marker="D",
                    color="C3",
                    zorder=4,
                    label="published mean" if i == 0 else None,
                )
        ax.set_xticks(range(len(here)), [f"{a}\nn={n}" for a, n in zip(here["algo"], here["n"])])
        ax.set_title(f"{env_id}, setting={preset}")
        ax.set_ylabel("final return (last 10 iterations)")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def strip_plot(final, cells, path) -> None:
    """``strip_figure`` written to ``path``."""
    import matplotlib.pyplot as plt

    fig = strip_figure(final, cells)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """python -m deep_pg.analysis.verdict_r RESULTS... --out DIR: R's cells and comparisons (CSV
    files and a plain table on stdout) and its strip plot, by the rule of
    docs/preregistration.md."""
    import argparse
    from pathlib import Path

    import pandas as pd

    from deep_pg.analysis.final import final_rewards
    from deep_pg.analysis.runs import load_runs

    parser = argparse.ArgumentParser(
        prog="python -m deep_pg.analysis.verdict_r", description=main.__doc__
    )
    parser.add_argument("sources", nargs="+", help="results/<study> folders or sweep directories")
    parser.add_argument("--out", required=True, type=Path, help="folder for the CSVs and figure")
    args = parser.parse_args(argv)
    finals = []
    for source in args.sources:
        runs = load_runs(source, progress=False)
        final = final_rewards(runs)
        final["best_return"] = final["run_id"].map(best_returns(runs))
        finals.append(final)
    final = with_preset(pd.concat(finals, ignore_index=True))
    cells, pairs = r_tables(final)
    best = (
        final[final["status"] == "completed"]
        .groupby(["preset", "env_id", "algo"])["best_return"]
        .mean()
        .rename("best_mean")
    )
    cells = cells.merge(best.reset_index(), on=["preset", "env_id", "algo"], how="left")
    args.out.mkdir(parents=True, exist_ok=True)
    cells.to_csv(args.out / "r_cells.csv", index=False)
    pairs.to_csv(args.out / "r_comparisons.csv", index=False)
    strip_plot(final, cells, args.out / "r_strip.png")
    print(cells.round(1).to_string(index=False))
    print()
    print(pairs.round(1).to_string(index=False))


if __name__ == "__main__":
    main()
