"""PNG figures of probe results in the paper's style, from one or more run directories.

    python -m deep_pg.probes.plots outputs/ppo_hopper outputs/trpo_hopper --out docs/probes

Runs are labelled by their algo.name. One figure per probe (landscapes: one per run), shaded
bands = the stored 95% bootstrap intervals.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from deep_pg import checkpoint as ckpt  # noqa: E402
from deep_pg.probes.results import MEAN_TRIAL, PROBES_DIR  # noqa: E402

AGENT_BATCH = 2048  # the sample regime of practical implementations (paper's vertical line)


def load(run_dir: Path, probe: str) -> pd.DataFrame | None:
    path = run_dir / PROBES_DIR / f"{probe}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def run_config(run_dir: Path):
    """The run's config: Hydra's copy, or (runs started without Hydra) a checkpoint's."""
    hydra_copy = run_dir / ".hydra" / "config.yaml"
    if hydra_copy.exists():
        return OmegaConf.load(hydra_copy)
    checkpoint = next(iter(sorted((run_dir / "checkpoints").glob("*.pt"))))
    return OmegaConf.create(ckpt.load(checkpoint)["config"])


def label(run_dir: Path) -> str:
    return str(run_config(run_dir).algo.name)


def _band(ax, part: pd.DataFrame, x: str, name: str, **style) -> None:
    part = part.sort_values(x)
    line, = ax.plot(part[x], part["value"], marker="o", ms=3, label=name, **style)
    ax.fill_between(part[x], part["ci_low"], part["ci_high"], alpha=0.2, color=line.get_color())


def curves_by_iteration(runs: list[Path], probe: str, variants: list[tuple[str, str]],
                        title: str, out: Path, by_variant: bool = False) -> Path | None:
    """Cosine similarity vs sample count: one column per iteration, one row per (variant, measure);
    one line per run (or, ``by_variant``, per variant of each run)."""
    frames = {label(r): df[df.trial == MEAN_TRIAL] for r in runs if (df := load(r, probe)) is not None}
    if not frames:
        return None
    iterations = sorted(set().union(*(set(df.iteration) for df in frames.values())))
    rows = [variants] if by_variant else [[v] for v in variants]
    fig, axes = plt.subplots(len(rows), len(iterations), squeeze=False, sharey="row",
                             figsize=(3.2 * len(iterations), 2.8 * len(rows)))
    for i, row in enumerate(rows):
        for j, it in enumerate(iterations):
            ax = axes[i][j]
            for name, df in frames.items():
                for variant, measure in row:
                    part = df[(df.iteration == it) & (df.variant == variant) & (df.measure == measure)]
                    if len(part):
                        _band(ax, part, "sample_count", f"{name} {variant}" if by_variant else name)
            ax.axvline(AGENT_BATCH, color="k", ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_title(f"iteration {it}", fontsize=9)
            ax.set_xlabel("state-action pairs")
            if j == 0:
                ax.set_ylabel("cosine similarity" if by_variant else f"{row[0][0]}: {row[0][1]}")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def value_figure(runs: list[Path], out: Path) -> Path | None:
    frames = {label(r): df[df.trial == MEAN_TRIAL] for r in runs if (df := load(r, "value")) is not None}
    if not frames:
        return None
    fig, axes = plt.subplots(2, 2, squeeze=False, figsize=(8, 5.5), sharex=True)
    for i, measure in enumerate(("train", "heldout")):
        for j, variant in enumerate(("gae", "returns")):
            ax = axes[i][j]
            for name, df in frames.items():
                part = df[(df.variant == variant) & (df.measure == measure)]
                if len(part):
                    _band(ax, part, "iteration", name)
            ax.set_yscale("log", base=2)
            ax.set_title(f"{'GAE' if variant == 'gae' else 'returns'} MRE, {measure}", fontsize=9)
            ax.set_xlabel("iteration")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def trust_region_figure(runs: list[Path], out: Path) -> Path:
    """Per-iteration train mean KL / max ratio from metrics.jsonl, held-out probe points on top."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for run in runs:
        cfg = run_config(run)
        name = str(cfg.algo.name)
        metrics = pd.DataFrame([json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()])
        probe = load(run, "trust_region")
        for ax, measure in zip(axes, ("mean_kl", "max_ratio")):
            line, = ax.plot(metrics["iteration"], metrics[measure], lw=1, label=f"{name} (train)")
            if probe is not None:
                held = probe[(probe.trial == MEAN_TRIAL) & (probe.variant == "heldout") & (probe.measure == measure)]
                ax.errorbar(held.iteration, held.value, yerr=[held.value - held.ci_low, held.ci_high - held.value],
                            fmt="s", ms=4, color=line.get_color(), label=f"{name} (held-out probe)")
            if measure == "max_ratio" and cfg.algo.family == "ppo" and cfg.algo.clip_eps:
                ax.axhline(1 + cfg.algo.clip_eps, color="k", ls=":", lw=1)  # PPO's 1 + epsilon
            if measure == "mean_kl" and cfg.algo.family == "trpo":
                ax.axhline(cfg.algo.max_kl, color=line.get_color(), ls=":", lw=1)  # TRPO's delta
    for ax, title in zip(axes, ("mean KL(pi_old || pi_new)", "max ratio pi_new / pi_old")):
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("iteration")
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def landscape_figure(run: Path, out: Path) -> Path | None:
    """Heatmaps over (step, random) coefficients: one row per iteration (and step size), one
    column per return sample count and one for the surrogate."""
    df = load(run, "landscape")
    if df is None:
        return None
    cases = df[["iteration", "step_samples"]].drop_duplicates().sort_values(["iteration", "step_samples"])
    panels = [("return", n) for n in sorted(df[df.variant == "return"].sample_count.unique())] + [("surrogate", None)]
    fig, axes = plt.subplots(len(cases), len(panels), squeeze=False,
                             figsize=(3.1 * len(panels), 2.7 * len(cases)))
    for i, (it, m) in enumerate(cases.itertuples(index=False)):
        for j, (variant, n) in enumerate(panels):
            part = df[(df.iteration == it) & (df.step_samples == m) & (df.variant == variant)]
            if n is not None:
                part = part[part.sample_count == n]
            grid = part.pivot_table(index="random_coef", columns="step_coef", values="value")
            ax = axes[i][j]
            dx, dy = np.diff(grid.columns[:2])[0] / 2, np.diff(grid.index[:2])[0] / 2  # cells centred on points
            image = ax.imshow(grid.values, origin="lower", aspect="auto", cmap="viridis",
                              extent=[grid.columns.min() - dx, grid.columns.max() + dx,
                                      grid.index.min() - dy, grid.index.max() + dy])
            fig.colorbar(image, ax=ax, fraction=0.046)
            what = f"return, {n:,} pairs/point" if n else "surrogate"
            ax.set_title(f"it {it}, step from {m:,}: {what}", fontsize=8)
            ax.set_xlabel("step direction")
            ax.set_ylabel("random direction")
    fig.suptitle(f"{label(run)}: landscapes (1 unit = one step / one unit-norm Gaussian direction)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Plot probe results of run directories.")
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    written = [
        curves_by_iteration(args.runs, "gradient", [("gradient", "pairwise"), ("gradient", "true"),
                                                    ("step", "pairwise"), ("step", "true")],
                            "gradient: pairwise similarity and similarity to the 'true' gradient / step",
                            args.out / "gradient.png"),
        value_figure(args.runs, args.out / "value.png"),
        trust_region_figure(args.runs, args.out / "trust_region.png"),
    ]
    for run in args.runs:
        name = label(run)
        written.append(curves_by_iteration(
            [run], "baselines", [("value_net", "pairwise"), ("true_value", "pairwise"), ("zero", "pairwise")],
            f"{name}: pairwise gradient similarity by baseline", args.out / f"baselines_{name}.png",
            by_variant=True))
        written.append(landscape_figure(run, args.out / f"landscape_{name}.png"))
    for path in written:
        if path is not None:
            print(path)


if __name__ == "__main__":
    main()
