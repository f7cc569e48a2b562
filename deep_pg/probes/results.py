"""Probe results: long-format rows, 95% bootstrap CIs over trials, ``probes/<probe>.parquet``.

Every row has (iteration, probe, variant, measure, sample_count, num_pairs, trial, value, ci_low,
ci_high) and a probe may add columns (the landscape's coordinates). In every probe ``measure`` is
the quantity measured (``pairwise``, ``true``, ``gae``, ``mean_kl``, ``return``, ...) and
``variant`` the condition or definition it was measured under (the raw ``gradient`` or the
algorithm's ``step``; the ``value_net`` / ``true_value`` / ``zero`` baseline; the ``train`` or
``heldout`` batch; the landscape's ``step_random`` plane), so readers need no per-probe
translation.

Rows with ``trial`` >= 0 are single trials (no interval); the row with ``trial == MEAN_TRIAL``
holds the mean over the trials of its group with the 95% percentile-bootstrap interval of that
mean (``deep_pg.bootstrap``; a single trial's interval is the value itself). A probe may write
that row itself when the trials are not independent draws (pairwise similarity: its interval
resamples the estimates, see ``stats.pairwise_bootstrap_ci``); ``with_means`` then keeps it.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from deep_pg.atomic import atomic_open
from deep_pg.bootstrap import bootstrap_ci

MEAN_TRIAL = -1
COLUMNS = [
    "iteration",
    "probe",
    "variant",
    "measure",
    "sample_count",
    "num_pairs",
    "trial",
    "value",
    "ci_low",
    "ci_high",
]
PROBES_DIR = "probes"


def with_means(rows: list[dict], resamples: int, seed: int) -> pd.DataFrame:
    """The rows plus one MEAN_TRIAL row per group (all columns but trial/value/num_pairs) that
    has none yet."""
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df:
            df[col] = np.nan
    trials = df[df["trial"] != MEAN_TRIAL]
    keys = [c for c in df.columns if c not in ("trial", "value", "ci_low", "ci_high", "num_pairs")]
    given = {
        _key(g) for g in df.loc[df["trial"] == MEAN_TRIAL, keys].itertuples(index=False, name=None)
    }
    means = []
    for i, (group, part) in enumerate(trials.groupby(keys, sort=False, dropna=False)):
        if _key(group) in given:
            continue
        _, low, high = bootstrap_ci(
            [part["value"].to_numpy()], n_resamples=resamples, seed=seed + i
        )
        means.append(
            {
                **dict(zip(keys, group)),
                "num_pairs": int(round(part["num_pairs"].mean())),
                "trial": MEAN_TRIAL,
                "value": part["value"].mean(),
                "ci_low": low,
                "ci_high": high,
            }
        )
    out = pd.concat([df, pd.DataFrame(means)], ignore_index=True) if means else df
    extra = [c for c in out.columns if c not in COLUMNS]
    return out[COLUMNS + extra].astype({"iteration": "int64", "trial": "int64"})


def _key(group: tuple) -> tuple:
    """A group's key with NaN as None, so that keys with missing values compare equal."""
    return tuple(None if pd.isna(v) else v for v in group)


@contextmanager
def _locked(path: Path):
    """An exclusive lock beside ``path``: probe jobs of one run may finish at the same time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(lock, fcntl.LOCK_UN)


def write_results(run_dir: Path, probe: str, iteration: int, df: pd.DataFrame) -> Path:
    """Merge ``df`` into probes/<probe>.parquet, replacing earlier rows of this iteration (a re-run
    supersedes them). Atomic: readers see the old table or the new one."""
    path = Path(run_dir) / PROBES_DIR / f"{probe}.parquet"
    with _locked(path):
        if path.exists():
            old = pd.read_parquet(path)
            df = pd.concat([old[old["iteration"] != iteration], df], ignore_index=True)
        df = df.sort_values(["iteration"], kind="stable").reset_index(drop=True)
        with atomic_open(path, "wb") as f:
            df.to_parquet(f, index=False)
    return path
