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
hold several stores (e.g. ``results/ablation/seed0`` and ``results/ablation/seed1-2`` exported
in different sessions): they are loaded together, run ids prefixed by the store's path.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.errors import AnalysisError
from analysis.local import PROBES, RunRecord, load_local

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


def export(source: Path, out: Path) -> dict[str, Any]:
    """Write the compact store of the runs under ``source`` to ``out`` (replacing a previous
    export there); returns its manifest. The store is written next to ``out`` and moved into
    place whole, so a reader never sees half of one."""
    source, out = Path(source).expanduser().resolve(), Path(out).expanduser().resolve()
    if out.exists() and not (out / MANIFEST).is_file():
        raise AnalysisError(f"--out {out}: exists and is not a compact store; choose a new "
                            "folder (an export replaces only an earlier export)")
    if out == source or source in out.parents:
        raise AnalysisError(f"--out {out}: inside the runs being exported ({source}); "
                            "write the store elsewhere")
    records = load_local(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a store is meant to be shared
    try:
        manifest = _write(records, source, staging)
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


def _write(records: list[RunRecord], source: Path, folder: Path) -> dict[str, Any]:
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
        pd.concat(tables, ignore_index=True).to_parquet(folder / PROBES / f"{name}.parquet",
                                                        index=False)
    statuses = pd.Series([r.info.get("status") for r in records]).value_counts().to_dict()
    manifest = {"format": FORMAT, "version": VERSION, "source": str(source),
                "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "deep_pg_commit": _commit(), "runs": len(records), "status": statuses,
                "probes": sorted(probes)}
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
        raise AnalysisError(f"{store / MANIFEST}: not a {FORMAT} store of version {VERSION} "
                            f"(format {manifest.get('format')!r}, version {manifest.get('version')!r})")
    curves = _by_run(store / CURVES)
    probes = {path.stem: _by_run(path) for path in sorted((store / PROBES).glob("*.parquet"))}
    records = []
    for run in json.loads((store / RUNS).read_text()):
        run_id = run["info"]["run_id"]
        records.append(RunRecord(
            info={**run["info"], "run_id": prefix + run_id},
            metrics=curves.get(run_id, pd.DataFrame()),
            probes={name: tables[run_id] for name, tables in probes.items() if run_id in tables},
            problems=list(run["problems"])))
    return records


def _by_run(path: Path) -> dict[str, pd.DataFrame]:
    """A store table split back into one frame per run, without the columns only other runs
    have (a PPO run has no TRPO metrics)."""
    if not path.is_file():
        return {}
    table = pd.read_parquet(path)
    return {run_id: part.drop(columns="run_id").dropna(axis=1, how="all").reset_index(drop=True)
            for run_id, part in table.groupby("run_id", sort=False)}


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """Config values as JSON keeps them (NaN becomes null, numpy scalars plain numbers)."""
    def plain(value: Any) -> Any:
        if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    return {key: plain(value) for key, value in info.items()}


def _commit() -> str | None:
    """The deep_pg commit exporting (the runs' own code version is in their configs/logs)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, cwd=Path(__file__).parent,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="deep-pg-export",
        description="Write the runs under SOURCE (a sweep or run directory tree) as a compact "
                    "store (configs, summaries, per-iteration metrics, probe tables; no "
                    "checkpoints) that deep-pg-report and analysis.load_runs read like runs.")
    parser.add_argument("source", type=Path, help="a sweep or run directory tree")
    parser.add_argument("--out", type=Path, required=True,
                        help="the store's folder, e.g. results/STUDY (an earlier export there "
                             "is replaced)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        manifest = export(args.source, args.out)
    except AnalysisError as err:
        print(f"deep-pg-export: error: {err}", file=sys.stderr)
        raise SystemExit(2)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    log.info("exported %d runs (%s) to %s: %.1f MB", manifest["runs"],
             ", ".join(f"{n} {s}" for s, n in manifest["status"].items()), args.out, size / 1e6)


if __name__ == "__main__":
    main()
