"""Compact results: the runs of a study as a few files fit to commit, without checkpoints.

A sweep directory holds checkpoints, wandb files and logs (tens of MB per run); what the
analysis reads of it is the config, the summary, the per-iteration metrics and the probe tables.
``deep-pg-export SWEEP_DIR --out results/STUDY`` writes exactly that, once per study:

    results/STUDY/compact.json          what this is, where it came from, how many runs
    results/STUDY/runs.json             per run: headline columns + flattened config, problems
    results/STUDY/curves.parquet        per-iteration metrics of every run (run_id column)
    results/STUDY/probes/NAME.parquet   each probe table of every run (run_id column)

``load_runs`` reads such a store as it reads run directories (the same ``Runs``), so every
figure and table of ``deep-pg-report`` can be regenerated from committed results. A folder may
hold several stores (e.g. ``results/ablation/seed0`` and ``results/ablation/seed1-2``, exported
one seed at a time): they are loaded together, run ids prefixed by the store's path.
``--add`` merges into an existing store instead, for the runs of a study re-created on a fresh
machine to probe more checkpoints (``merge`` says when a run counts as the same run). The
manifest records when, at which deep_pg commit and on which machine each export and addition
was made (``analysis.studies`` renders it as the report's provenance table).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from deep_pg import exits
from deep_pg.analysis.errors import AnalysisError
from deep_pg.analysis.local import PROBES, RunRecord, load_local

log = logging.getLogger("analysis")

MANIFEST = "compact.json"
RUNS = "runs.json"
CURVES = "curves.parquet"
FORMAT = "deep_pg compact results"
VERSION = 1


def find_stores(root: Path) -> list[Path]:
    """Every compact store at or below ``root``, in a stable order."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        return [root]
    return sorted(p.parent for p in root.rglob(MANIFEST) if p.is_file())


def export(source: Path, out: Path, add: bool = False) -> dict[str, Any]:
    """Write the compact store of the runs under ``source`` to ``out`` (replacing a previous
    export there, or with ``add`` merging into it: see ``merge``); returns its manifest. The
    store is written next to ``out`` and moved into place whole, so a reader never sees half
    of one."""
    source, out = Path(source).expanduser().resolve(), Path(out).expanduser().resolve()
    if out.exists() and not (out / MANIFEST).is_file():
        raise AnalysisError(
            f"--out {out}: exists and is not a compact store; choose a new "
            "folder (an export replaces only an earlier export)"
        )
    if add and not out.exists():
        raise AnalysisError(
            f"--out {out}: no store to add to (--add merges into an earlier "
            "export; leave it out to start one)"
        )
    if out == source or source in out.parents:
        raise AnalysisError(
            f"--out {out}: inside the runs being exported ({source}); write the store elsewhere"
        )
    records = load_local(source)
    previous = None
    if add:
        previous = json.loads((out / MANIFEST).read_text())
        records = merge(_read(out, ""), records, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a store is meant to be shared
    try:
        manifest = _write(records, source, staging, previous)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


# Per-iteration columns that measure the machine, not the agent: a run re-created exactly
# differs from its original only there.
TIMING_COLUMNS = ("wall_time", "iter_time", "sps", "pack_size")


def merge(stored: list[RunRecord], new: list[RunRecord], store: Path) -> list[RunRecord]:
    """The store's runs with ``new`` added. A run the store lacks joins it. A run it holds must
    be the same run, re-created (e.g. on a fresh machine, its checkpoints gone, to probe more
    checkpoints): equal per-iteration metrics, timing aside, over the iterations both have;
    anything else is refused, since its probes would describe a different agent. Of a run in
    both, the longer record gives the config, summary and curves (a tie keeps the store's), and
    each probe table keeps the store's rows but at the iterations the new one measured."""
    by_id = {r.info["run_id"]: r for r in stored}
    for record in new:
        run_id = record.info["run_id"]
        kept = by_id.get(run_id)
        if kept is None:
            by_id[run_id] = record
            continue
        _check_same_run(kept, record, store)
        longer = record if len(record.metrics) > len(kept.metrics) else kept
        probes = dict(kept.probes)
        for name, table in record.probes.items():
            if name in probes and "iteration" in table and "iteration" in probes[name]:
                old = probes[name]
                old = old[~old["iteration"].isin(table["iteration"].unique())]
                table = pd.concat([old, table], ignore_index=True)
            probes[name] = table
        problems = list(dict.fromkeys(kept.problems + record.problems))
        by_id[run_id] = RunRecord(
            info=longer.info, metrics=longer.metrics, probes=probes, problems=problems
        )
    return list(by_id.values())


def _check_same_run(kept: RunRecord, record: RunRecord, store: Path) -> None:
    run_id = record.info["run_id"]
    where = f"run {run_id} ({record.info.get('run_dir')})"
    if kept.metrics.empty or record.metrics.empty:
        raise AnalysisError(
            f"{where}: {store} holds a run of that id, and one of the two has "
            "no metrics, so nothing shows they are the same run; export it to "
            "a study of its own"
        )
    both = min(len(kept.metrics), len(record.metrics))
    # a store keeps no all-empty column (e.g. returns before any episode ended)
    a = kept.metrics.iloc[:both].dropna(axis=1, how="all")
    b = record.metrics.iloc[:both].dropna(axis=1, how="all")
    for column in sorted(set(a.columns) | set(b.columns)):
        if column in TIMING_COLUMNS:
            continue
        if column not in a or column not in b:
            raise AnalysisError(
                f"{where}: metric {column!r} is in only one of it and the run "
                f"of that id in {store}; not the same run, export it to a "
                "study of its own"
            )
        left, right = a[column].reset_index(drop=True), b[column].reset_index(drop=True)
        same = (left == right) | (left.isna() & right.isna())
        if not same.all():
            first = int(same.idxmin())
            raise AnalysisError(
                f"{where}: metric {column!r} differs from the run of that id in {store} at "
                f"iteration {a['iteration'].iloc[first] if 'iteration' in a else first} "
                f"({right.iloc[first]!r} here, {left.iloc[first]!r} there): not the same run "
                "(another machine model or code?); export it to a study of its own"
            )


def _write(
    records: list[RunRecord], source: Path, folder: Path, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    runs = [{"info": _jsonable(r.info), "problems": r.problems} for r in records]
    (folder / RUNS).write_text(json.dumps(runs, indent=1, sort_keys=False) + "\n")
    curves = [r.metrics.assign(run_id=r.info["run_id"]) for r in records if not r.metrics.empty]
    if curves:
        pd.concat(curves, ignore_index=True).to_parquet(folder / CURVES, index=False)
    probes: dict[str, list[pd.DataFrame]] = {}
    for r in records:
        for name, table in r.probes.items():
            probes.setdefault(name, []).append(table.assign(run_id=r.info["run_id"]))
    if probes:
        (folder / PROBES).mkdir()
    for name, tables in probes.items():
        pd.concat(tables, ignore_index=True).to_parquet(
            folder / PROBES / f"{name}.parquet", index=False
        )
    statuses = pd.Series([r.info.get("status") for r in records]).value_counts().to_dict()
    provenance = {
        "source": str(source),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "deep_pg_commit": _commit(),
        "machine": machine(),
    }
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        **provenance,
        "runs": len(records),
        "status": statuses,
        "probes": sorted(probes),
    }
    if previous is not None:  # --add: the first export's provenance stays, each addition listed
        manifest.update({key: previous.get(key) for key in provenance})
        manifest["added"] = previous.get("added", []) + [provenance]
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_stores(root: Path) -> list[RunRecord]:
    """The runs of every compact store under ``root`` as records, as ``load_local`` gives them."""
    root = Path(root).expanduser().resolve()
    records = []
    for store in find_stores(root):
        prefix = "" if store == root else store.relative_to(root).as_posix() + "/"
        records += _read(store, prefix)
    return records


def _read(store: Path, prefix: str) -> list[RunRecord]:
    manifest = json.loads((store / MANIFEST).read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise AnalysisError(
            f"{store / MANIFEST}: not a {FORMAT} store of version {VERSION} "
            f"(format {manifest.get('format')!r}, version {manifest.get('version')!r})"
        )
    curves = _by_run(store / CURVES)
    probes = {path.stem: _by_run(path) for path in sorted((store / PROBES).glob("*.parquet"))}
    records = []
    for run in json.loads((store / RUNS).read_text()):
        run_id = run["info"]["run_id"]
        records.append(
            RunRecord(
                info={**run["info"], "run_id": prefix + run_id},
                metrics=curves.get(run_id, pd.DataFrame()),
                probes={
                    name: tables[run_id] for name, tables in probes.items() if run_id in tables
                },
                problems=list(run["problems"]),
            )
        )
    return records


def _by_run(path: Path) -> dict[str, pd.DataFrame]:
    """A store table split back into one frame per run, without the columns only other runs
    have (a PPO run has no TRPO metrics)."""
    if not path.is_file():
        return {}
    table = pd.read_parquet(path)
    return {
        run_id: part.drop(columns="run_id").dropna(axis=1, how="all").reset_index(drop=True)
        for run_id, part in table.groupby("run_id", sort=False)
    }


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """Config values as JSON keeps them (NaN becomes null, numpy scalars plain numbers)."""

    def plain(value: Any) -> Any:
        if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return {key: plain(value) for key, value in info.items()}


def machine() -> str:
    """The exporting machine as the provenance table names it: its CPU model (with the x86
    family and model numbers, which tell CPU generations apart when the name does not) and its
    core count. Runs are exported where they ran; a rerun on another CPU model is another run."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return f"{name}, {os.cpu_count()} cores"


def _commit() -> str | None:
    """The deep_pg commit exporting (the runs' own code version is in their configs/logs)."""
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                cwd=Path(__file__).parent,
                check=True,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="deep-pg-export",
        description="Write the runs under SOURCE (a sweep or run directory tree) as a compact "
        "store (configs, summaries, per-iteration metrics, probe tables; no "
        "checkpoints) that deep-pg-report and deep_pg.analysis.load_runs read like runs.",
    )
    parser.add_argument("source", type=Path, help="a sweep or run directory tree")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the store's folder, e.g. results/STUDY (an earlier export there "
        "is replaced, unless --add)",
    )
    parser.add_argument(
        "--add",
        action="store_true",
        help="merge into the store at --out instead: new runs join it, a run it "
        "holds must be the same run re-created (equal metrics, timing "
        "aside), and its new probe checkpoints are added",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        manifest = export(args.source, args.out, add=args.add)
    except AnalysisError as err:
        exits.fail(str(err), program="deep-pg-export")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    log.info(
        "exported %d runs (%s) to %s: %.1f MB",
        manifest["runs"],
        ", ".join(f"{n} {s}" for s, n in manifest["status"].items()),
        args.out,
        size / 1e6,
    )


if __name__ == "__main__":
    main()
