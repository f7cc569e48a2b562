"""The paper's claims about agents, tested across agents: each agent's own difference first (one
baseline against another at a checkpoint, a later checkpoint against an earlier one, a
high-sample landscape against a low-sample one), then the mean of those differences over the
agents with its t-interval (``analysis.stats.mean_interval``), the smallest mean difference
the agents could detect and how many agents the observed one would need (``analysis.power``).

An interval over one agent's trials says how well that agent was measured, not whether another
agent would show the same; these tables put the agent-to-agent variation in the interval. Each
row also lists the agents' own differences (``per_agent``, by seed) so that "two of three"
stays visible beside the mean.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from deep_pg.analysis.figures.common import MissingData, probe_table
from deep_pg.analysis.power import within_units
from deep_pg.analysis.stats import mean_interval

CELL = ["env", "algo", "setting"]
SUMMARY = [
    "n_agents",
    "per_agent",
    "mean_diff",
    "mean_diff_low",
    "mean_diff_high",
    "interval",
    "sd",
    "min_detectable",
    "agents_needed",
]

# The baselines compared, a − b: the paper's order is true value > value net > zero.
BASELINE_GAPS = [("true_value", "value_net"), ("value_net", "zero")]
# The value network's error against returns (ours, the released code's) minus against its
# targets: the paper's claim is that it predicts returns much worse than it fits its targets.
VALUE_GAPS = [("returns", "gae"), ("ref_returns", "gae")]


def _summary(diffs: pd.Series, seeds: pd.Series) -> dict:
    """The SUMMARY columns of one comparison from its agents' differences."""
    mean, low, high, label = mean_interval(diffs, unit="agents")
    order = np.argsort(seeds.to_numpy())
    power = within_units(diffs, "", "agents")
    return {
        "n_agents": len(diffs),
        "per_agent": ", ".join(f"{v:.2f}" for v in diffs.to_numpy()[order]),
        "mean_diff": mean,
        "mean_diff_low": low,
        "mean_diff_high": high,
        "interval": label,
        "sd": power["sd"],
        "min_detectable": power["min_detectable"],
        "agents_needed": power["units_needed"],
    }


def agent_values(runs, probe: str) -> pd.DataFrame:
    """One value per agent (run) and probe cell: the probe's mean row where it wrote one, else
    the mean of the run's trial rows. Columns: run_id, seed, CELL, iteration, variant, measure,
    sample_count, value."""
    table = probe_table(runs, probe, needs=("measure", "variant", "iteration", "sample_count"))
    keys = ["run_id", "seed", *CELL, "iteration", "variant", "measure", "sample_count"]
    return table.groupby(keys, dropna=False, sort=True)["value"].mean().reset_index()


def gaps(values: pd.DataFrame, keys: list[str], across: str, pairs) -> pd.DataFrame:
    """Per ``keys`` cell and (a, b) in ``pairs``: each agent's value at ``across`` = a minus its
    value at b, summarized over the agents that have both. Column ``comparison``: "a − b"."""
    rows = []
    for cell_keys, cell in values.groupby(keys, sort=True, dropna=False):
        wide = cell.pivot_table(index=["run_id", "seed"], columns=across, values="value")
        for a, b in pairs:
            if a not in wide or b not in wide:
                continue
            both = wide[[a, b]].dropna().reset_index()
            if both.empty:
                continue
            rows.append(
                {
                    **dict(zip(keys, cell_keys)),
                    "comparison": f"{a} − {b}",
                    **_summary(both[a] - both[b], both["seed"]),
                }
            )
    return pd.DataFrame(rows, columns=[*keys, "comparison", *SUMMARY])


def changes(values: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys`` cell: each agent's change of value from one probed iteration to the next,
    from the first to the last, and from the first trained one (iteration > 0) to the last,
    summarized over the agents probed at both."""
    rows = []
    for cell_keys, cell in values.groupby(keys, sort=True, dropna=False):
        wide = cell.pivot_table(index=["run_id", "seed"], columns="iteration", values="value")
        its = sorted(wide.columns)
        spans = list(pairwise(its))
        trained = [i for i in its if i > 0]
        for span in ((its[0], its[-1]), (trained[0], trained[-1]) if trained else None):
            if span and span[0] != span[1] and span not in spans:
                spans.append(span)
        for start, end in spans:
            both = wide[[start, end]].dropna().reset_index()
            if both.empty:
                continue
            rows.append(
                {
                    **dict(zip(keys, cell_keys)),
                    "from_iteration": start,
                    "to_iteration": end,
                    **_summary(both[end] - both[start], both["seed"]),
                }
            )
    return pd.DataFrame(rows, columns=[*keys, "from_iteration", "to_iteration", *SUMMARY])


def baseline_claims(runs) -> pd.DataFrame:
    """F4 (paper Fig. 4), true value > value net > zero: per cell, iteration and sample count,
    each agent's gap in pairwise similarity between the baselines, across agents."""
    try:
        values = agent_values(runs, "baselines")
    except MissingData:
        return pd.DataFrame()
    values = values[values["measure"] == "pairwise"]
    return gaps(values, [*CELL, "iteration", "sample_count"], "variant", BASELINE_GAPS)


def value_claims(runs) -> pd.DataFrame:
    """F3 (paper Figs. 3, 11, 12), the value network predicts returns worse than it fits its
    targets: per cell, iteration and batch (train, held-out), each agent's mean relative error
    against returns (deep_pg's definition, then the released code's) minus against its GAE
    targets, across agents."""
    try:
        values = agent_values(runs, "value")
    except MissingData:
        return pd.DataFrame()
    return gaps(values, [*CELL, "iteration", "variant"], "measure", VALUE_GAPS)


def gradient_claims(runs) -> pd.DataFrame:
    """F2 (paper Figs. 2, 10), similarity to the true gradient falls over training: per cell,
    variant and sample count, each agent's change in noise-corrected similarity between probed
    iterations, across agents."""
    try:
        values = agent_values(runs, "gradient")
    except MissingData:
        return pd.DataFrame()
    values = values[values["measure"] == "true_corrected"]
    return changes(values, [*CELL, "variant", "measure", "sample_count"])


def landscape_claims(per_run: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From the landscape's per-run measures (``landscape_summary.landscape_tables``):
    (F5, Fig. 5) each agent's rank correlation with the accurate landscape at the middle sample
    count minus at the lowest, per iteration and step; (F6, Figs. 6, 7) each agent's change in
    the surrogate's rank correlation with the return between probed iterations."""
    if per_run.empty:
        return pd.DataFrame(), pd.DataFrame()
    ranks = per_run[per_run["measure"] == "rank_vs_largest"]
    counts = sorted(ranks["sample_count"].dropna().unique())
    concentration = (
        gaps(ranks, [*CELL, "iteration", "step_samples"], "sample_count", [(counts[1], counts[0])])
        if len(counts) >= 2
        else pd.DataFrame()
    )
    surrogate = per_run[per_run["measure"] == "surrogate_rank"]
    alignment = changes(surrogate, [*CELL, "step_samples", "measure"])
    return concentration, alignment
