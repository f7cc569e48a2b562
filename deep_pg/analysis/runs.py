"""`load_runs`: run directories or a wandb project → one `Runs` object of pandas DataFrames."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from deep_pg.analysis.errors import AnalysisError
from deep_pg.analysis.local import RunRecord, load_local
from deep_pg.analysis.schema import COMPLETED, CURVE_INDEX, HEADLINE, identity
from deep_pg.analysis.settings import setting_labels

log = logging.getLogger("analysis")

WANDB_PREFIX = "wandb://"
# Config columns copied onto every probe row, so probe tables group without a merge.
PROBE_JOIN = ["run_id", "algo", "setting", "env", "seed", "lr", "status"]
DUPLICATE_COLUMNS = ["run_id", "same_as", "status", "iterations", "modified", "run_dir"]


@dataclass
class Runs:
    """The runs of a sweep (or any set of runs) as DataFrames.

    configs: one row per run — headline columns (`schema.HEADLINE`: run_id, algo, env, seed, lr,
        status, ...), ``setting`` (which runs are seeds of one configuration,
        `analysis.settings`), then every config key flattened with dots (`opt.lr_anneal`, ...).
    curves:  wide, one row per (run, iteration), one column per logged metric.
    metrics: long/tidy view of `curves`: run_id, iteration, env_steps, metric, value.
    probes:  {probe name: long table of all runs}, with `PROBE_JOIN` config columns joined and
        env_steps (the probe's iteration × algo.steps_per_iter).
    problems: run_id, problem — everything skipped or suspicious while loading.
    duplicates: the runs left out because another run has the same identity (config + seed,
        `schema.identity`): run_id, same_as (the run kept), status, iterations, modified, run_dir.
    source:  where the runs came from (path or wandb URL), for reports.
    """

    configs: pd.DataFrame
    curves: pd.DataFrame
    probes: dict[str, pd.DataFrame]
    problems: pd.DataFrame
    source: str = ""
    notes: list[str] = field(default_factory=list)
    duplicates: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=DUPLICATE_COLUMNS)
    )

    @cached_property
    def metrics(self) -> pd.DataFrame:
        value_cols = [c for c in self.curves.columns if c not in CURVE_INDEX]
        long = self.curves.melt(
            id_vars=CURVE_INDEX, value_vars=value_cols, var_name="metric", value_name="value"
        )
        long["value"] = pd.to_numeric(long["value"], errors="coerce")
        return long.dropna(subset=["value"]).reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.configs)

    def __repr__(self) -> str:
        counts = self.configs["status"].value_counts().to_dict() if len(self) else {}
        return (
            f"Runs({len(self)} runs from {self.source!r}: {counts}; "
            f"{len(self.curves)} iterations; probes: {sorted(self.probes)}; "
            f"{len(self.duplicates)} duplicates left out)"
        )


def _preference(record: RunRecord) -> tuple:
    """Which of several runs of one identity to keep: a completed one, then one with more probe
    tables (repeats train the same agent, so probes are what one may lack), then the most
    recent, then the first run id."""
    modified = record.info.get("modified")
    return (
        record.info.get("status") == COMPLETED,
        len(record.probes),
        modified if modified is not None else float("-inf"),
    )


def one_per_identity(records: Sequence[RunRecord]) -> tuple[list[RunRecord], pd.DataFrame]:
    """The records with one run per identity (config + seed), and the table of those left out.
    A run trained twice is one sample, not two: counting both would shrink every interval."""
    by_identity: dict[Any, list[RunRecord]] = {}
    for record in records:
        key = identity(record.info)
        by_identity.setdefault(key if key is not None else id(record), []).append(record)
    kept, dropped = [], []
    for group in by_identity.values():
        best = max(sorted(group, key=lambda r: r.info["run_id"]), key=_preference)
        kept.append(best)
        dropped += [
            {**{c: r.info.get(c) for c in DUPLICATE_COLUMNS}, "same_as": best.info["run_id"]}
            for r in group
            if r is not best
        ]
    order = {id(r): i for i, r in enumerate(records)}
    kept.sort(key=lambda r: order[id(r)])
    duplicates = pd.DataFrame(dropped, columns=DUPLICATE_COLUMNS)
    duplicates["modified"] = pd.to_datetime(duplicates["modified"], unit="s", utc=True)
    return kept, duplicates.sort_values("run_id", kind="stable").reset_index(drop=True)


def duplicates_message(duplicates: pd.DataFrame, shown: int = 3) -> str:
    """One warning for all duplicates: how many, of how many identities, and where."""
    examples = [
        f"{row.run_id} (same as {row.same_as})"
        for row in duplicates.head(shown).itertuples(index=False)
    ]
    more = f" and {len(duplicates) - shown} more" if len(duplicates) > shown else ""
    return (
        f"{len(duplicates)} run(s) left out: each repeats the config and seed of another "
        f"run, and a (config, seed) counts once: {', '.join(examples)}{more}. Kept of each: "
        "a completed run, then one with probe tables, then the most recent; the runs left "
        "out are listed in Runs.duplicates"
    )


def from_records(records: Sequence[RunRecord], source: str, notes: list[str] | None = None) -> Runs:
    """Assemble per-run records (from any loader) into the shared schema, one run per identity
    (the others go to ``Runs.duplicates``)."""
    records, duplicates = one_per_identity(records)
    configs = pd.DataFrame([r.info for r in records])
    extra = sorted(c for c in configs.columns if c not in HEADLINE)
    configs = configs[HEADLINE + extra]
    configs.insert(len(HEADLINE), "setting", setting_labels(configs))
    configs["modified"] = pd.to_datetime(configs["modified"], unit="s", utc=True)

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

    # A probe at iteration i sees the agent after i updates, i.e. after i × steps_per_iter env
    # steps: the same x as the curves' env_steps, so probe and curve figures share one axis.
    joined = configs[PROBE_JOIN].assign(
        steps_per_iter=configs.get("algo.steps_per_iter", pd.Series(float("nan"), configs.index))
    )
    probes: dict[str, list[pd.DataFrame]] = {}
    for r in records:
        for name, table in r.probes.items():
            probes.setdefault(name, []).append(table.assign(run_id=r.info["run_id"]))
    probe_tables = {}
    for name, tables in sorted(probes.items()):
        table = pd.concat(tables, ignore_index=True).merge(joined, on="run_id", how="left")
        table["env_steps"] = table["iteration"] * table.pop("steps_per_iter")
        probe_tables[name] = table

    problems = pd.DataFrame(
        [(r.info["run_id"], p) for r in records for p in r.problems], columns=["run_id", "problem"]
    )
    return Runs(
        configs=configs,
        curves=curves,
        probes=probe_tables,
        problems=problems,
        source=source,
        notes=list(notes or []),
        duplicates=duplicates,
    )


def _load_path(root: Path, progress: bool | None) -> list[RunRecord]:
    """The run directories and the compact stores (`analysis.compact`) under ``root``."""
    from deep_pg.analysis.compact import load_stores

    stored = load_stores(root) if root.is_dir() else []
    try:
        return stored + load_local(root, progress=progress)
    except AnalysisError:
        if stored:  # only compact stores here
            return stored
        raise


def load_runs(
    source: str | Path,
    *,
    group: str | None = None,
    filters: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> Runs:
    """Load runs from a folder tree of run directories or from ``wandb://entity/project``.

    group / filters apply to wandb projects (the sweep group; extra MongoDB-style filters in the
    wandb API's syntax). Problems met while loading are logged as warnings and kept in
    ``Runs.problems``; bad input raises `AnalysisError` with one clear message.
    """
    text = str(source)
    if text.startswith(WANDB_PREFIX):
        from deep_pg.analysis.wandb_source import load_wandb

        records, notes = load_wandb(text, group=group, filters=filters, progress=progress)
    else:
        if group is not None or filters:
            raise AnalysisError(
                "group/filters select runs of a wandb project; for a local "
                "path, pass the sweep directory itself"
            )
        records, notes = _load_path(Path(text), progress), []
    runs = from_records(records, source=text, notes=notes)
    shown = 10  # enough to see the pattern without flooding a load of hundreds of runs
    for run_id, problem in runs.problems.head(shown).itertuples(index=False):
        log.warning("run %s: %s", run_id, problem)
    if len(runs.problems) > shown:
        log.warning("... and %d more problems (see Runs.problems)", len(runs.problems) - shown)
    if len(runs.duplicates):
        log.warning("%s", duplicates_message(runs.duplicates))
    return runs
