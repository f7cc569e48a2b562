"""The sweep index: ``<sweep dir>/sweep_index.jsonl``, one JSON line per job as it ends.

Jobs end in other processes (and, on Slurm, on other machines), so each job appends its own line:
one ``write`` on a descriptor opened with ``O_APPEND`` under an exclusive ``flock``, so lines from
concurrent jobs never interleave, also on network filesystems whose appends are not atomic. A job
that dies without writing (killed, out of memory) gets its line from the launcher that waited for
it. A re-launched sweep appends again: the last line for a run directory is its current state.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deep_pg.tracking.run_store import read_summary

INDEX_FILE = "sweep_index.jsonl"


def append(sweep_dir: Path, record: dict[str, Any]) -> None:
    data = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(Path(sweep_dir) / INDEX_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        written = os.write(fd, data)
        if written != len(data):  # a full disk; say so rather than leave half a line unnoticed
            raise OSError(f"wrote {written} of {len(data)} bytes to {INDEX_FILE}")
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the lock


def read(sweep_dir: Path) -> list[dict[str, Any]]:
    path = Path(sweep_dir) / INDEX_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def record(
    job_num: int,
    overrides: Sequence[str],
    run_dir: Path,
    status: str,
    reason: str | None = None,
    skipped: bool = False,
    launcher_job_id: str | None = None,
) -> dict[str, Any]:
    """One line: what ran, where, and how it ended (final figures from summary.json if written)."""
    summary = read_summary(run_dir)
    return {
        "job": job_num,
        "overrides": list(overrides),
        "run_dir": str(run_dir),
        "status": status,
        "reason": reason,
        "skipped": skipped,  # true: it had completed in an earlier launch; nothing was run
        "final_return": summary.get("final_return"),
        "iterations": summary.get("iterations"),
        "launcher_job_id": launcher_job_id,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
