"""Gradient-quality figures from probes/gradient.parquet and probes/baselines.parquet:
pairwise similarity of estimates (paper Figs. 1, 9), similarity to the "true" gradient (Figs. 2,
10; dashed: corrected for the noise of the "true" gradient itself), both for the algorithm's
actual step (appendix A.4), and the baselines (Fig. 4)."""

from __future__ import annotations

from deep_pg.analysis.figures.common import (
    Figure,
    MissingData,
    algo_colors,
    grid,
    log_axis,
    practice_line,
    probe_table,
    trial_band,
)
from deep_pg.analysis.settings import arm, arm_file_name, arms

_GRADIENT_PANELS = [
    # (measure, variant, name, title, y label)
    (
        "pairwise",
        "gradient",
        "gradient_pairwise",
        "Gradient variance (paper Figs. 1, 9)",
        "avg pairwise cos similarity",
    ),
    (
        "true",
        "gradient",
        "gradient_true",
        "Convergence to the true gradient (paper Figs. 2, 10)",
        "cos similarity to true gradient",
    ),
    (
        "pairwise",
        "step",
        "step_pairwise",
        "Step variance (paper appendix A.4)",
        "avg pairwise cos similarity",
    ),
    (
        "true",
        "step",
        "step_true",
        "Step convergence to the true step (paper appendix A.4)",
        "cos similarity to true step",
    ),
]


# The raw similarity to the "true" direction and the same corrected by 1/sqrt(rho_N), rho_N the
# reliability of the "true" direction (deep_pg/probes/gradient.py): drawn dashed beside it.
CORRECTED = {"true": "true_corrected"}


def _per_env_iteration(table, env, line_key, colors_for, title_prefix, ylabel):
    """One panel per probe iteration; one line (with CI) per ``line_key`` value, dashed for a
    corrected measure."""
    part = table[table["env"] == env]
    iterations = sorted(part["iteration"].unique())
    fig, axes = grid(len(iterations))
    for i, (ax, it) in enumerate(zip(axes, iterations)):
        at = part[part["iteration"] == it]
        for (key, measure), rows in at.groupby([line_key, "measure"], sort=False):
            band = trial_band(rows, "sample_count")
            color, label = colors_for(key)
            corrected = measure in CORRECTED.values()
            ax.plot(
                band["sample_count"],
                band["mean"],
                color=color,
                lw=1.4,
                ls="--" if corrected else "-",
                label="dashed: corrected, ÷√ρ_N" if corrected else label,
            )
            ax.fill_between(
                band["sample_count"], band["low"], band["high"], color=color, alpha=0.2, lw=0
            )
        practice_line(ax, label=i == 0)
        ax.set(
            title=f"{title_prefix}{env}, iteration {it}",
            xlabel="# state-action pairs",
            ylabel=ylabel,
        )
        log_axis(ax, "x")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axes[0].legend(unique.values(), unique.keys(), fontsize=7)
    fig.tight_layout()
    return fig


def gradient_figures(runs, ctx) -> list[Figure]:
    table = probe_table(runs, "gradient", needs=("measure", "variant", "sample_count", "iteration"))
    table = table.assign(arm=arms(table))
    colors = algo_colors(table["arm"].unique())
    out, missing = [], []
    for measure, variant, name, title, ylabel in _GRADIENT_PANELS:
        measures = {measure, CORRECTED.get(measure, measure)}
        sel = table[table["measure"].isin(measures) & (table["variant"] == variant)]
        if sel.empty:
            missing.append(f"{name}: no rows with measure={measure}, variant={variant}")
            continue
        seen: set[str] = set()

        def colors_for(run_id, sel=sel, seen=seen):
            name = sel.loc[sel["run_id"] == run_id, "arm"].iloc[0]
            label = None if name in seen else name  # one legend entry per algorithm (setting)
            seen.add(name)
            return colors[name], label

        for env in sorted(sel["env"].unique()):
            seen.clear()
            fig = _per_env_iteration(sel, env, "run_id", colors_for, "", ylabel)
            out.append(
                Figure(
                    f"{name}_{env}",
                    f"{title}: {env}",
                    "One line per run (color: algorithm and setting) with the "
                    "probe's 95% percentile-bootstrap interval over its K repeated "
                    "estimates (shaded); dotted line: the 2K samples used in "
                    "practice."
                    + (
                        " Dashed: the same similarity divided by √ρ_N, ρ_N the expected "
                        "similarity of two independent 'true' estimates (from its two "
                        "halves): what it would be without the noise of the 'true' "
                        "direction itself."
                        if measure in CORRECTED
                        else ""
                    ),
                    fig,
                )
            )
    if not out:
        raise MissingData("; ".join(missing))
    return out


def baseline_figures(runs, ctx) -> list[Figure]:
    table = probe_table(
        runs, "baselines", needs=("variant", "measure", "sample_count", "iteration")
    )
    table = table[table["measure"] == "pairwise"]  # the table also holds the true value net's fit
    palette = {"value_net": "tab:blue", "true_value": "tab:green", "zero": "tab:red"}
    out = []
    for (env, algo, setting), sel in table.groupby(["env", "algo", "setting"], sort=True):
        fig = _per_env_iteration(
            sel,
            env,
            "variant",
            lambda b: (palette.get(b, "tab:gray"), f"{b} baseline"),
            f"{arm(algo, setting)} ",
            "avg pairwise cos similarity",
        )
        out.append(
            Figure(
                f"baselines_{arm_file_name(algo, setting)}_{env}",
                f"Baselines: {arm(algo, setting)} on {env} (paper Fig. 4)",
                "Gradient variance (average pairwise cosine similarity) with the value "
                "network, the 'true' value function and the zero baseline: the mean "
                "over the setting's runs (its seeds) with the t-interval over them "
                "(nominal 95%; not called 95% below 5 runs), or one run's 95% "
                "percentile-bootstrap interval over its trials.",
                fig,
            )
        )
    return out
