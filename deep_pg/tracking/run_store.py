"""The run directory contract (README, "Where results land"): metrics.jsonl appended per
iteration, summary.json last."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from deep_pg.atomic import atomic_open
from deep_pg.tracking.wandb_logger import RUN_ID_FILE

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
COMPLETED = "completed"  # summary.json's status once training has run to total_steps
# What a training attempt writes besides Hydra's .hydra/ and log.
ATTEMPT_OUTPUTS = (METRICS_FILE, SUMMARY_FILE, "probes", "checkpoints", "wandb", RUN_ID_FILE)


def _jsonable(value: Any) -> Any:
    """NaN/inf are not JSON: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The run's summary.json; {} while there is none (running, killed) or it is unreadable. The
    one reader of a run directory's summary for training and launching (the offline analysis
    reads it in ``deep_pg.analysis.local``, where an unreadable file is reported, not ignored)."""
    path = Path(run_dir) / SUMMARY_FILE
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def training_completed(run_dir: Path) -> bool:
    """Has the run in ``run_dir`` trained to its end (summary.json says completed)? With which
    config is another question: ``deep_pg.trainer.completed_run_mismatch``."""
    return read_summary(run_dir).get("status") == COMPLETED


def write_json_atomic(data: dict, path: Path) -> None:
    with atomic_open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


class RunStore:
    """Appends one JSON line per iteration (flushed at once) and writes the final summary."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / METRICS_FILE
        self.summary_path = self.run_dir / SUMMARY_FILE

    def metrics_offset(self) -> int:
        """Bytes of metrics.jsonl written so far (saved in checkpoints)."""
        return self.metrics_path.stat().st_size if self.metrics_path.exists() else 0

    def rewind_metrics(self, offset: int) -> int:
        """On resume, cut metrics.jsonl back to the checkpoint's offset: lines past it belong to
        iterations the resumed run recomputes (identically). Returns the number of bytes cut."""
        size = self.metrics_offset()
        if size > offset:
            with open(self.metrics_path, "r+b") as f:
                f.truncate(offset)
        return max(0, size - offset)

    def append_metrics(self, row: dict[str, Any]) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json_atomic({k: _jsonable(v) for k, v in summary.items()}, self.summary_path)

    def clear_partial_run(self) -> list[str]:
        """A run starting from scratch removes what an earlier attempt left without a checkpoint
        to resume from (metrics, probe tables, a failed summary, its wandb run), so nothing of it
        is appended to or mistaken for this attempt's results. Returns the names removed."""
        if training_completed(self.run_dir):
            raise RuntimeError(f"refusing to clear the completed run in {self.run_dir}")
        removed = []
        for name in ATTEMPT_OUTPUTS:
            path = self.run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            else:
                continue
            removed.append(name)
        return removed

    def clear_summary(self) -> None:
        """A resumed run is running again: drop the summary of the attempt that stopped."""
        self.summary_path.unlink(missing_ok=True)
