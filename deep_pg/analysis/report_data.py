"""The report's analysis: every table ``deep-pg-report`` writes, computed once from the runs, and
the power of every comparison in them (``analysis.power``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import pandas as pd

from deep_pg.analysis.ablation import (
    BLOG,
    HELD_OUT,
    ablated_cells,
    toggle_table,
    tuned_agents,
    usable,
)
from deep_pg.analysis.agent_claims import (
    SUMMARY,
    baseline_claims,
    gradient_claims,
    landscape_claims,
    value_claims,
)
from deep_pg.analysis.comparison import best_setting_runs, compare_algorithms
from deep_pg.analysis.figures.common import ordered
from deep_pg.analysis.final import FinalReward, final_rewards
from deep_pg.analysis.landscape_summary import landscape_tables
from deep_pg.analysis.power import COLUMNS as POWER_COLUMNS
from deep_pg.analysis.power import two_groups, within_units
from deep_pg.analysis.probe_summary import SUMMARIZED, probe_summary
from deep_pg.analysis.runs import Runs
from deep_pg.analysis.schema import ABLATION_TOGGLES
from deep_pg.analysis.settings import CELL
from deep_pg.analysis.toggle_pairs import ANY, paired_effects, toggle_pairs
from deep_pg.analysis.trust_region import per_run, trust_region_table
from deep_pg.analysis.verdict_r import PUBLISHED, r_tables


@dataclass
class Selection:
    """The ablation's tuned agents by one selection method (ablation.tuned_agents)."""

    method: str
    label: str  # how the tuned agents were chosen (ablation.selection_label)
    best: pd.DataFrame  # best learning rate per configuration
    tuned: pd.DataFrame  # the tuned agents' runs
    toggles: pd.DataFrame  # each toggle on vs off among the tuned agents
    suffix: str = ""  # of its table and figure names: '' for the first method shown, '_blog'


@dataclass
class Context:
    """The analysis tables the figures draw from (computed once)."""

    definition: str
    final: pd.DataFrame
    used: pd.DataFrame
    left_out: pd.DataFrame
    # tuned agents of the ablation, one Selection per method (held-out first when seeds allow)
    selections: list[Selection] = field(default_factory=list)
    ablation_missing: str | None = None
    pairs: pd.DataFrame | None = None  # paired toggle effects over every run of the ablation
    comparison: tuple = (None, None)
    tables: dict[str, tuple[str, pd.DataFrame]] = field(default_factory=dict)
    power: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=POWER_COLUMNS))


def _ablation(ctx: Context) -> None:
    used = ctx.used
    missing_toggles = [t for t in ABLATION_TOGGLES if t not in used]
    if used.empty:
        ctx.ablation_missing = "no completed run with a final reward"
        return
    if missing_toggles:
        ctx.ablation_missing = f"runs lack config column(s) {', '.join(missing_toggles)}"
        return
    ablated = ablated_cells(used)
    if ablated.empty:
        ctx.ablation_missing = (
            "no (algo, env) has runs with a toggle both on and off "
            "(run the ablation sweep: +sweep=ablation16)"
        )
        return
    # the held-out choice of LR needs a fresh seed to show; with one seed only the blog's
    methods = (HELD_OUT, BLOG) if ablated["seed"].nunique() >= 2 else (BLOG,)
    for method in methods:  # the first under the plain names, the blog's beside it
        best, tuned, label = tuned_agents(ablated, method)
        suffix = "_blog" if ctx.selections else ""
        ctx.selections.append(Selection(method, label, best, tuned, toggle_table(tuned), suffix))
    ctx.pairs = paired_effects(used)  # toggles as configured, not ablated's booleans


def analyse(runs: Runs, final_reward: FinalReward) -> Context:
    final = final_rewards(runs, final_reward)
    used, left_out = usable(final)
    ctx = Context(final_reward.definition, final, used, left_out)
    _ablation(ctx)
    if not used.empty:
        ctx.comparison = compare_algorithms(used)

    headline = [
        "run_id",
        "algo",
        "env",
        "seed",
        "lr",
        "status",
        "iterations",
        "total_iterations",
        "final_return",
        "corrupt_lines",
        "reason",
    ]
    ctx.tables["runs"] = ("Runs", final[headline])
    if len(runs.duplicates):
        shown = runs.duplicates.assign(
            modified=runs.duplicates["modified"].dt.strftime("%Y-%m-%d %H:%M:%S UTC")
        )
        ctx.tables["duplicates"] = (
            "Runs left out: repeats of another run's config and seed",
            shown,
        )
    for sel in ctx.selections:
        ctx.tables[f"best_lr{sel.suffix}"] = (
            f"Best learning rate per configuration ({sel.label})",
            sel.best,
        )
        ctx.tables[f"toggles{sel.suffix}"] = (
            f"Tuned agents with each optimization on vs off ({sel.label})",
            sel.toggles,
        )
    if ctx.pairs is not None and not ctx.pairs.empty:
        ctx.tables["toggle_pairs"] = (
            (
                "Paired effects: each run with an optimization on "
                "against the run that differs in it alone"
            ),
            ctx.pairs,
        )
    trust = trust_region_table(runs.curves, used)
    if not trust.empty:
        ctx.tables["trust_region"] = (
            ("Trust region over training, per run then mean over runs (t-intervals over seeds)"),
            trust,
        )
    for probe in SUMMARIZED:
        table = probe_summary(runs, probe)
        if not table.empty:
            ctx.tables[f"probe_{probe}"] = (f"Probe {probe}: mean over runs", table)
    landscape, landscape_runs = landscape_tables(runs)
    if not landscape.empty:
        ctx.tables["probe_landscape"] = (
            ("Probe landscape: the grids as correlations and the step's gain, mean over runs"),
            landscape,
        )
    if (landscape["n_runs"] > 1).any():  # with one run per cell the summary is the run
        ctx.tables["probe_landscape_runs"] = (
            "Probe landscape, per run (each run's own interval)",
            landscape_runs,
        )
    _agent_claims(runs, ctx, landscape_runs)
    summary, pairs = ctx.comparison
    if summary is not None and not summary.empty:
        ctx.tables["comparison"] = ("Final reward per algorithm (best setting)", summary)
        if not pairs.empty:
            ctx.tables["improvement"] = ("Probability of improvement P(x > y)", pairs)
    _published_comparison(final, ctx)
    if not left_out.empty:
        ctx.tables["left_out"] = (
            "Runs left out of the final-reward analysis",
            left_out[["run_id", "algo", "env", "seed", "status", "left_out_because"]],
        )
    if len(runs.problems):
        ctx.tables["problems"] = ("Problems met while loading", runs.problems)
    ctx.power = power_table(runs, ctx)
    if not ctx.power.empty:
        ctx.tables["power"] = (
            (
                "Power: the smallest difference each comparison's n detects "
                "(α = 0.05, power 0.8), and the n its observed difference "
                "needs"
            ),
            ctx.power,
        )
    return ctx


def _published_comparison(final: pd.DataFrame, ctx: Context) -> None:
    """R's cells and the companion paper's claims, by the pre-registered rule
    (docs/preregistration.md), for runs of the algorithms and environments it published."""
    known = final[[(e, a) in PUBLISHED for e, a in zip(final["env"], final["algo"])]]
    if known.empty:
        return
    cells, claims = r_tables(known)
    ctx.tables["r_cells"] = (
        (
            "Final return against the published mean (docs/preregistration.md:"
            " t-intervals at the 95% level, verdicts from 5 runs)"
        ),
        cells,
    )
    if not claims.empty:
        ctx.tables["r_comparisons"] = (
            "The companion paper's claims (Welch's 95% t-intervals)",
            claims,
        )


def _agent_claims(runs: Runs, ctx: Context, landscape_runs: pd.DataFrame) -> None:
    concentration, alignment = landscape_claims(landscape_runs)
    for key, title, table in (
        (
            "claims_baselines",
            (
                "Baselines, per agent: the gap between two baselines' "
                "pairwise similarity, across agents"
            ),
            baseline_claims(runs),
        ),
        (
            "claims_value",
            (
                "Value prediction, per agent: its error against returns minus "
                "against its targets, across agents"
            ),
            value_claims(runs),
        ),
        (
            "claims_gradient",
            (
                "Similarity to the true gradient, per agent: its change "
                "between probed iterations, across agents"
            ),
            gradient_claims(runs),
        ),
        (
            "claims_concentration",
            (
                "Landscapes, per agent: how much better a higher sample "
                "count ranks the grid, across agents"
            ),
            concentration,
        ),
        (
            "claims_surrogate",
            ("Surrogate alignment, per agent: its change between probed iterations, across agents"),
            alignment,
        ),
    ):
        if not table.empty:
            ctx.tables[key] = (title, table)


def power_table(runs: Runs, ctx: Context) -> pd.DataFrame:
    """One row per comparison of the report's tables (``analysis.power``)."""
    rows = []
    if not ctx.used.empty:
        best = best_setting_runs(ctx.used)
        for env, cell in best.groupby("env", sort=True):
            values = {a: part["final_return"] for a, part in cell.groupby("algo")}
            for a, b in combinations(ordered(values), 2):
                rows.append(
                    two_groups(values[b], values[a], f"final return, {env}: {b} − {a}", "seeds")
                )
    trust = per_run(runs.curves, ctx.used)
    for env, cell in trust.groupby("env", sort=True):
        values = {a: part["median_max_ratio"] for a, part in cell.groupby("algo")}
        for a, b in combinations(ordered(values), 2):
            rows.append(
                two_groups(values[b], values[a], f"median max ratio, {env}: {b} − {a}", "seeds")
            )
    for sel in ctx.selections:
        tuned = sel.tuned
        for (algo, env), cell in tuned.groupby(CELL, sort=True):
            for toggle in ABLATION_TOGGLES:
                on = cell[toggle].astype(bool)
                rows.append(
                    two_groups(
                        cell.loc[on, "final_return"],
                        cell.loc[~on, "final_return"],
                        f"tuned agents ({sel.method}), {algo} {env}: {toggle} on − off",
                        "agents",
                    )
                )
    if ctx.pairs is not None and not ctx.pairs.empty:
        pairs = toggle_pairs(ctx.used)
        for (algo, env, toggle), cell in pairs.groupby([*CELL, "toggle"], sort=False):
            per_seed = cell.groupby("seed")["diff"].mean()
            rows.append(
                within_units(
                    per_seed,
                    f"paired effect, {algo} {env}: {toggle} on − off ({ANY} pairs, mean per seed)",
                    "seeds",
                )
            )
    for key, what in (
        ("claims_baselines", "baselines"),
        ("claims_value", "value error"),
        ("claims_gradient", "gradient"),
        ("claims_concentration", "landscape ranks"),
        ("claims_surrogate", "surrogate rank"),
    ):
        if key in ctx.tables:
            rows += _claim_power(ctx.tables[key][1], what)
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def _claim_power(table: pd.DataFrame, what: str) -> list[dict]:
    """Power rows of an agent-claims table (``analysis.agent_claims``)."""
    keys = [c for c in table.columns if c not in (*SUMMARY, "setting")]
    return [
        {
            "comparison": f"{what}: " + ", ".join(f"{k} {row[k]}" for k in keys),
            "n": row["n_agents"],
            "unit": "agents",
            "sd": row["sd"],
            "difference": row["mean_diff"],
            "min_detectable": row["min_detectable"],
            "units_needed": row["agents_needed"],
        }
        for row in table.to_dict("records")
    ]
