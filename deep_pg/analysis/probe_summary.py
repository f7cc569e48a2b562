"""Probe results as report tables: per (env, algo, setting, iteration, variant, measure, sample
count), the mean over runs (the seeds of one setting, `analysis.settings`) of each run's mean
over its trials, with its interval (``analysis.stats.estimate_interval``).

With several runs the interval is the t-interval over the runs' means, so what varies between
agents (the paper's "several agents") is in it; with one run it is that run's own interval over
its trials. Column ``ci_over`` says which, ``interval`` names the method and n. The figures draw
the same numbers; these tables let a document quote them (docs/reproduction.md) and a test check
that it does.
"""

from __future__ import annotations

import pandas as pd

from deep_pg.analysis.figures.common import MissingData, probe_table
from deep_pg.analysis.stats import estimate_with_label

# The probes whose rows are scalars per condition (the landscape's grids are figures only).
SUMMARIZED = ("gradient", "value", "baselines", "trust_region")
KEYS = ["env", "algo", "setting", "iteration", "variant", "measure", "sample_count"]
COLUMNS = [*KEYS, "n_runs", "mean", "mean_low", "mean_high", "ci_over", "interval", "num_pairs"]


def probe_summary(runs, probe: str) -> pd.DataFrame:
    """The summary of ``probe`` (empty when no run has its table)."""
    try:
        table = probe_table(runs, probe, needs=("measure", "variant", "iteration"))
    except MissingData:
        return pd.DataFrame(columns=COLUMNS)
    optional = [*KEYS, "ci_low", "ci_high", "num_pairs"]  # a hand-made table may lack some
    table = table.assign(**{k: float("nan") for k in optional if k not in table})
    rows = []
    for keys, part in table.groupby(KEYS, sort=True, dropna=False):  # value rows: no sample_count
        point, low, high, own, label = estimate_with_label(part)
        rows.append(
            {
                **dict(zip(KEYS, keys)),
                "n_runs": part["run_id"].nunique(),
                "mean": point,
                "mean_low": low,
                "mean_high": high,
                "ci_over": "trials" if own else "runs",
                "interval": label,
                "num_pairs": part["num_pairs"].mean(),
            }
        )
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.assign(num_pairs=out["num_pairs"].round()).astype(
        {"sample_count": "Int64", "num_pairs": "Int64"}
    )
