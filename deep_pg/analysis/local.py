"""Read run directories (the run directory contract of README's "Where results land") from any
folder tree.

Every directory holding ``metrics.jsonl`` or ``.hydra/config.yaml`` is a run, at any depth.
Incomplete and failed runs are loaded and marked, never dropped; a corrupt metrics line (a crash
mid-write) is skipped and reported so one bad file cannot stop a load of hundreds of runs.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import yaml
from omegaconf import OmegaConf

from deep_pg.analysis.errors import AnalysisError
from deep_pg.analysis.schema import COMPLETED, FAILED, INCOMPLETE, flatten, headline

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CONFIG = Path(".hydra") / "config.yaml"
PROBES = "probes"
# Folders inside a run that never hold runs: no need to walk them.
_NOT_RUNS = {"checkpoints", "probes", "wandb", ".hydra"}
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster


@dataclass
class RunRecord:
    """Everything read from one run directory."""

    info: dict[str, Any]  # headline columns + flattened config
    metrics: pd.DataFrame  # one row per logged iteration
    probes: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def find_run_dirs(root: Path) -> list[Path]:
    """All run directories under ``root`` (``root`` itself may be one), in a stable order."""
    if not root.exists():
        raise AnalysisError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise AnalysisError(f"{root}: not a directory (expected a run or sweep directory)")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if METRICS in filenames or (here / CONFIG).is_file():
            found.append(here)
            dirnames.clear()  # a run's subfolders are its own files, not more runs
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in _NOT_RUNS)
    return sorted(found)


def read_config(path: Path) -> dict[str, Any]:
    """The composed config, flattened. ``${...}`` interpolations are resolved where they can be
    (Hydra writes them only in its own nodes); what cannot be resolved stays as written."""
    text = path.read_text()
    raw = yaml.load(text, Loader=_YAML_LOADER) or {}
    if "${" in text:
        cfg = OmegaConf.create(raw)
        for key in list(raw):
            try:
                raw[key] = (
                    OmegaConf.to_container(cfg[key], resolve=True)
                    if OmegaConf.is_config(cfg[key])
                    else cfg[key]
                )
            except Exception:  # an unresolvable interpolation: keep the written value
                pass
    return flatten(raw)


def read_metrics(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """Rows of metrics.jsonl and the 1-based numbers of the lines that were not valid JSON.

    Arrow's JSON reader parses a clean file in C++ without the GIL, so threads load runs in
    parallel; any file it rejects is parsed line by line to find and skip the bad lines."""
    try:
        frame = pa_json.read_json(path).to_pandas()
        if "iteration" in frame:
            return frame, []
    except pa.ArrowInvalid:
        pass
    rows, corrupt = [], []
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                corrupt.append(number)
                continue
            if isinstance(row, dict) and "iteration" in row:
                rows.append(row)
            else:
                corrupt.append(number)
    return pd.DataFrame.from_records(rows), corrupt


def read_probes(run_dir: Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    tables, problems = {}, []
    probe_dir = run_dir / PROBES
    if probe_dir.is_dir():
        for path in sorted(probe_dir.glob("*.parquet")):
            try:
                tables[path.stem] = pd.read_parquet(path)
            except Exception as err:  # e.g. a table being written right now
                problems.append(f"unreadable probe table {path.name}: {type(err).__name__}: {err}")
    return tables, problems


def read_run(run_dir: Path, root: Path) -> RunRecord:
    """One run directory → a record; problems are collected, never raised."""
    problems: list[str] = []
    run_id = run_dir.relative_to(root).as_posix() if run_dir != root else run_dir.name
    config: dict[str, Any] = {}
    if (run_dir / CONFIG).is_file():
        try:
            config = read_config(run_dir / CONFIG)
        except Exception as err:
            problems.append(f"unreadable {CONFIG}: {type(err).__name__}: {err}")
    else:
        problems.append(f"no {CONFIG} (config columns come from summary.json where possible)")

    summary = None
    if (run_dir / SUMMARY).is_file():
        try:
            summary = json.loads((run_dir / SUMMARY).read_text())
        except ValueError as err:
            problems.append(f"unreadable {SUMMARY}: {err}")
    status = (summary or {}).get("status", INCOMPLETE)
    if status not in (COMPLETED, FAILED):
        status = INCOMPLETE

    metrics, corrupt = pd.DataFrame(), cast(list[int], [])
    if (run_dir / METRICS).is_file():
        metrics, corrupt = read_metrics(run_dir / METRICS)
        if corrupt:
            problems.append(
                f"skipped {len(corrupt)} corrupt line(s) of {METRICS} "
                f"(line {', '.join(map(str, corrupt[:5]))}{', ...' if len(corrupt) > 5 else ''})"
            )
    if metrics.empty:
        problems.append(f"no metrics rows in {METRICS}")

    probes, probe_problems = read_probes(run_dir)
    problems += probe_problems
    written = [
        p.stat().st_mtime
        for p in (run_dir / METRICS, run_dir / SUMMARY, run_dir / CONFIG)
        if p.is_file()
    ]
    info = headline(
        run_id,
        str(run_dir),
        config,
        summary,
        status,
        len(metrics),
        len(corrupt),
        modified=max(written, default=None),
    )
    info.update(config)
    return RunRecord(info=info, metrics=metrics, probes=probes, problems=problems)


def load_local(root: Path, progress: bool | None = None) -> list[RunRecord]:
    """Read every run under ``root``. Threads overlap the file reads (parquet and file I/O
    release the GIL); a progress bar appears for large trees."""
    from tqdm.auto import tqdm

    root = Path(root).expanduser().resolve()
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise AnalysisError(
            f"{root}: no runs found (no directory below it holds {METRICS} or {CONFIG.as_posix()})"
        )
    show = len(run_dirs) >= 100 if progress is None else progress
    with ThreadPoolExecutor(max_workers=min(8, len(run_dirs))) as pool:
        records = list(
            tqdm(
                pool.map(lambda d: read_run(d, root), run_dirs),
                total=len(run_dirs),
                desc=f"loading runs from {root.name}",
                unit="run",
                disable=not show,
            )
        )
    return records
