"""Report regeneration time: ``deep-pg-report results/`` one study at a time and in parallel.

    python benchmarks/report_time.py [--results results] [--repeats 1]

Times the whole command (``python -m deep_pg.analysis.report RESULTS --out DIR --no-progress``,
process start-up and imports included: that is what a reader waits for) one study at a time
(``--workers 1``, the reference) and with the default, one process per available core,
alternating the two ``--repeats`` times in the same invocation. Prints each wall time, their
ratio and the cores; the issue's target is the parallel time under a minute on a fresh clone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deep_pg.runtime.packing import available_cores

REPO = Path(__file__).resolve().parents[1]


def report_seconds(results: Path, out: Path, *options: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deep_pg.analysis.report",
            str(results),
            "--out",
            str(out),
            "--no-progress",
            *options,
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"deep-pg-report failed:\n{proc.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"cores: {available_cores()}  load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            serial = report_seconds(args.results, Path(tmp) / f"serial{repeat}", "--workers", "1")
            parallel = report_seconds(args.results, Path(tmp) / f"parallel{repeat}")
            print(
                f"one study at a time {serial:6.1f} s   parallel {parallel:6.1f} s   "
                f"ratio {serial / parallel:.2f}x"
            )


if __name__ == "__main__":
    main()
