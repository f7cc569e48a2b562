"""Probe results as report tables: per (env, algo, setting, iteration, variant, measure, sample
count), the mean over runs (the seeds of one setting, `analysis.settings`) of each run's mean over
its trials, with a 95% bootstrap interval.

The interval is over runs when there are several (what varies between agents, the paper's
"several agents"), and the probe's own interval over its trials when there is one run; column
``ci_over`` says which. The figures draw the same numbers; these tables let a document quote them
(docs/reproduction.md) and a test check that it does.
"""
from __future__ import annotations

import pandas as pd

from analysis.figures.common import MissingData, probe_table
from analysis.stats import estimate_interval

# The probes whose rows are scalars per condition (the landscape's grids are figures only).
SUMMARIZED = ("gradient", "value", "baselines", "trust_region")
KEYS = ["env", "algo", "setting", "iteration", "variant", "measure", "sample_count"]
COLUMNS = [*KEYS, "n_runs", "mean", "mean_low", "mean_high", "ci_over", "num_pairs"]


def probe_summary(runs, probe: str, seed: int = 0) -> pd.DataFrame:
    """The summary of ``probe`` (empty when no run has its table)."""
    try:
        table = probe_table(runs, probe, needs=("measure", "variant", "iteration"))
    except MissingData:
        return pd.DataFrame(columns=COLUMNS)
    optional = [*KEYS, "ci_low", "ci_high", "num_pairs"]  # a hand-made table may lack some
    table = table.assign(**{k: float("nan") for k in optional if k not in table})
    rows = []
    for keys, part in table.groupby(KEYS, sort=True, dropna=False):  # value rows: no sample_count
        point, low, high, own = estimate_interval(part, seed)
        rows.append({**dict(zip(KEYS, keys)), "n_runs": part["run_id"].nunique(), "mean": point,
                     "mean_low": low, "mean_high": high, "ci_over": "trials" if own else "runs",
                     "num_pairs": part["num_pairs"].mean()})
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.assign(num_pairs=out["num_pairs"].round()).astype({"sample_count": "Int64",
                                                                  "num_pairs": "Int64"})
