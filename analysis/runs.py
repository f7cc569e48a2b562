"""`load_runs`: run directories or a wandb project → one `Runs` object of pandas DataFrames."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from analysis.errors import AnalysisError
from analysis.local import RunRecord, load_local
from analysis.schema import CURVE_INDEX, HEADLINE

log = logging.getLogger("analysis")

WANDB_PREFIX = "wandb://"
# Config columns copied onto every probe row, so probe tables group without a merge.
PROBE_JOIN = ["run_id", "algo", "env", "seed", "lr", "status"]


@dataclass
class Runs:
    """The runs of a sweep (or any set of runs) as DataFrames.

    configs: one row per run — headline columns (`schema.HEADLINE`: run_id, algo, env, seed, lr,
        status, ...) then every config key flattened with dots (`opt.lr_anneal`, ...).
    curves:  wide, one row per (run, iteration), one column per logged metric.
    metrics: long/tidy view of `curves`: run_id, iteration, env_steps, metric, value.
    probes:  {probe name: long table of all runs}, with `PROBE_JOIN` config columns joined.
    problems: run_id, problem — everything skipped or suspicious while loading.
    source:  where the runs came from (path or wandb URL), for reports.
    """
    configs: pd.DataFrame
    curves: pd.DataFrame
    probes: dict[str, pd.DataFrame]
    problems: pd.DataFrame
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        value_cols = [c for c in self.curves.columns if c not in CURVE_INDEX]
        long = self.curves.melt(id_vars=CURVE_INDEX, value_vars=value_cols,
                                var_name="metric", value_name="value")
        long["value"] = pd.to_numeric(long["value"], errors="coerce")
        return long.dropna(subset=["value"]).reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.configs)

    def __repr__(self) -> str:
        counts = self.configs["status"].value_counts().to_dict() if len(self) else {}
        return (f"Runs({len(self)} runs from {self.source!r}: {counts}; "
                f"{len(self.curves)} iterations; probes: {sorted(self.probes)})")


def from_records(records: Sequence[RunRecord], source: str, notes: list[str] | None = None) -> Runs:
    """Assemble per-run records (from any loader) into the shared schema."""
    configs = pd.DataFrame([r.info for r in records])
    extra = sorted(c for c in configs.columns if c not in HEADLINE)
    configs = configs[HEADLINE + extra]

    frames = []
    for r in records:
        if not r.metrics.empty:
            frames.append(r.metrics.assign(run_id=r.info["run_id"]))
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_INDEX)
    for col in CURVE_INDEX:
        if col not in curves:
            curves[col] = pd.NA
    curves = curves[CURVE_INDEX + [c for c in curves.columns if c not in CURVE_INDEX]]
    curves = curves.sort_values(["run_id", "iteration"], kind="stable").reset_index(drop=True)

    joined = configs[PROBE_JOIN]
    probes: dict[str, list[pd.DataFrame]] = {}
    for r in records:
        for name, table in r.probes.items():
            probes.setdefault(name, []).append(table.assign(run_id=r.info["run_id"]))
    probe_tables = {name: pd.concat(tables, ignore_index=True).merge(joined, on="run_id",
                                                                    how="left")
                    for name, tables in sorted(probes.items())}

    problems = pd.DataFrame([(r.info["run_id"], p) for r in records for p in r.problems],
                            columns=["run_id", "problem"])
    return Runs(configs=configs, curves=curves, probes=probe_tables, problems=problems,
                source=source, notes=list(notes or []))


def load_runs(source: str | Path, *, group: str | None = None,
              filters: dict[str, Any] | None = None, progress: bool | None = None) -> Runs:
    """Load runs from a folder tree of run directories or from ``wandb://entity/project``.

    group / filters apply to wandb projects (the sweep group; extra MongoDB-style filters in the
    wandb API's syntax). Problems met while loading are logged as warnings and kept in
    ``Runs.problems``; bad input raises `AnalysisError` with one clear message.
    """
    text = str(source)
    if text.startswith(WANDB_PREFIX):
        from analysis.wandb_source import load_wandb

        records, notes = load_wandb(text, group=group, filters=filters, progress=progress)
    else:
        if group is not None or filters:
            raise AnalysisError("group/filters select runs of a wandb project; for a local "
                                "path, pass the sweep directory itself")
        records, notes = load_local(Path(text), progress=progress), []
    runs = from_records(records, source=text, notes=notes)
    shown = 10  # enough to see the pattern without flooding a load of hundreds of runs
    for run_id, problem in runs.problems.head(shown).itertuples(index=False):
        log.warning("run %s: %s", run_id, problem)
    if len(runs.problems) > shown:
        log.warning("... and %d more problems (see Runs.problems)", len(runs.problems) - shown)
    return runs
