"""Landscape figures from probes/landscape.parquet: the true reward landscape at several
sample counts (concentration, paper Figs. 5, 19, 20) and true reward vs surrogate objective
(Figs. 6, 7, 13–18). Axes as in the paper: step direction (1 = one full step) × a random
Gaussian direction (1 = a norm-2 Gaussian vector)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from deep_pg.analysis.figures.common import Figure, MissingData, probe_table
from deep_pg.analysis.settings import arm, arm_file_name

NEEDS = ("measure", "step_coef", "random_coef", "sample_count", "iteration")


def _surface(ax, rows, title):
    """Mean over trials at each grid point, drawn as a 3-D surface like the paper's."""
    mesh = rows.pivot_table(
        index="random_coef", columns="step_coef", values="value", aggfunc="mean"
    )
    x, y = np.meshgrid(mesh.columns.to_numpy(float), mesh.index.to_numpy(float))
    ax.plot_surface(x, y, mesh.to_numpy(float), cmap="viridis", linewidth=0, antialiased=True)
    ax.set_xlabel("step direction", fontsize=8)
    ax.set_ylabel("random direction", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)


def _one_run_per_cell(table):
    """The paper shows one agent per (algo, env): the run with the smallest seed (per setting,
    when the study ran several)."""
    first = (
        table.sort_values(["seed", "run_id"]).groupby(["algo", "setting", "env"]).head(1)["run_id"]
    )
    return table[table["run_id"].isin(set(first))]


def concentration_figures(runs, ctx) -> list[Figure]:
    table = _one_run_per_cell(probe_table(runs, "landscape", needs=NEEDS))
    table = table[table["measure"] == "return"]
    if table.empty:
        raise MissingData("probes/landscape.parquet has no measure=return rows")
    out = []
    for (algo, setting, env, run_id, it), rows in table.groupby(
        ["algo", "setting", "env", "run_id", "iteration"]
    ):
        if "step_samples" in rows:  # one step regime: the reward surface is the subject here
            rows = rows[rows["step_samples"] == rows["step_samples"].min()]
        counts = sorted(rows["sample_count"].unique())
        fig = plt.figure(figsize=(4 * len(counts), 3.6))
        for i, n in enumerate(counts):
            ax = fig.add_subplot(1, len(counts), i + 1, projection="3d")
            _surface(ax, rows[rows["sample_count"] == n], f"{int(n):,} state-action pairs")
        fig.suptitle(f"{arm(algo, setting)} on {env}, iteration {it}\nrun {run_id}", fontsize=8)
        fig.tight_layout()
        out.append(
            Figure(
                f"landscape_concentration_{arm_file_name(algo, setting)}_{env}_it{it}",
                f"Reward landscape concentration: {arm(algo, setting)}, {env}, "
                f"iteration {it} "
                "(paper Figs. 5, 19, 20)",
                "True return on the step × random-direction grid, estimated with "
                "increasing numbers of state-action pairs per point (left to right).",
                fig,
            )
        )
    return out


def surrogate_figures(runs, ctx) -> list[Figure]:
    table = _one_run_per_cell(probe_table(runs, "landscape", needs=NEEDS))
    if not {"return", "surrogate"} <= set(table["measure"].unique()):
        raise MissingData(
            "probes/landscape.parquet needs both measure=return and measure=surrogate rows"
        )
    if "step_samples" not in table:
        table = table.assign(step_samples=0)
    out = []
    for (algo, setting, env, run_id), rows in table.groupby(["algo", "setting", "env", "run_id"]):
        panels = sorted(set(zip(rows["iteration"], rows["step_samples"])))
        fig = plt.figure(figsize=(8, 3.6 * len(panels)))
        for r, (it, step_samples) in enumerate(panels):
            cell = rows[(rows["iteration"] == it) & (rows["step_samples"] == step_samples)]
            true = cell[cell["measure"] == "return"]
            true = true[true["sample_count"] == true["sample_count"].max()]
            for c, (part, label) in enumerate(
                ((true, "true reward"), (cell[cell["measure"] == "surrogate"], "surrogate"))
            ):
                ax = fig.add_subplot(len(panels), 2, 2 * r + c + 1, projection="3d")
                if part.empty:
                    ax.set_title(f"{label}: no rows", fontsize=9)
                    continue
                _surface(
                    ax, part, f"{label}, iteration {it}, step from {int(step_samples):,} pairs"
                )
        fig.suptitle(f"{arm(algo, setting)} on {env}\nrun {run_id}", fontsize=8)
        fig.tight_layout()
        out.append(
            Figure(
                f"landscape_surrogate_{arm_file_name(algo, setting)}_{env}",
                f"True reward vs surrogate landscapes: {arm(algo, setting)}, {env} "
                "(paper Figs. 6, 7, 13–18)",
                "Left: true return (largest sample count per point); right: the "
                "surrogate objective the algorithm maximizes; one row per iteration "
                "and step sample regime.",
                fig,
            )
        )
    return out
