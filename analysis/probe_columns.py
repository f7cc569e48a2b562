"""The one place that knows how deep_pg's probe tables (probes/<probe>.parquet, written by
deep_pg/probes/results.py) name their columns and values. Figures use the canonical names; if
the probes change a name, change it here and nowhere else.

The tables are long: (iteration, probe, variant, measure, sample_count, num_pairs, trial, value,
ci_low, ci_high, ...). Rows with trial >= 0 are single trials; the row with trial == -1 holds the
mean over its trials with a 95% bootstrap CI. The meaning of ``variant`` and ``measure`` differs
per probe, hence the per-probe mapping below.
"""
from __future__ import annotations

import pandas as pd

MEAN_TRIAL = -1

# per probe: canonical column → the table's column
COLUMNS = {
    # metric: pairwise cosine similarity / similarity to the "true" gradient (raw: true,
    # corrected for the truth's noise: true_corrected; truth_halves, truth_reliability);
    # variant: the raw gradient or the algorithm's actual step
    "gradient": {"metric": "measure", "variant": "variant"},
    # metric: MRE against GAE targets (gae) / Monte-Carlo returns (returns), and the reference
    # code's definitions (ref_gae_sq, ref_returns); split: train/heldout
    "value": {"metric": "variant", "split": "measure"},
    # baseline: value / true / zero; metric: pairwise (and the true value net's fit_mre)
    "baselines": {"baseline": "variant", "metric": "measure"},
    # split: train/heldout batch; metric: mean_kl, max_ratio, ...
    "trust_region": {"split": "variant", "metric": "measure"},
    # metric: return / surrogate at each grid point; step_samples: pairs the step was computed
    # from; sample_count: pairs used to estimate the return at each point
    "landscape": {"metric": "variant", "step_samples": "step_samples",
                  "step_coord": "step_coef", "random_coord": "random_coef"},
}

# per probe: canonical column → {canonical value: the table's value}
VALUES = {
    "baselines": {"baseline": {"value": "value_net", "true": "true_value", "zero": "zero"}},
}


def canonical(table: pd.DataFrame, probe: str) -> pd.DataFrame:
    """The table with canonical names and values, one row per measurement: the probe's mean rows
    (with its CIs) where it wrote them, else the trial rows."""
    mapping = COLUMNS.get(probe, {})
    table = table.drop(columns=[c for c in mapping if c in table and mapping[c] != c])
    table = table.rename(columns={theirs: ours for ours, theirs in mapping.items()})
    for column, values in VALUES.get(probe, {}).items():
        if column in table:
            back = {theirs: ours for ours, theirs in values.items()}
            table[column] = table[column].map(lambda v: back.get(v, v))
    if "trial" in table and (table["trial"] == MEAN_TRIAL).any():
        table = table[table["trial"] == MEAN_TRIAL]
    return table.reset_index(drop=True)
