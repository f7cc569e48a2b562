"""Job processes started before their jobs are known (the local launcher's "spares").

A job process spends about a second and a half importing torch, gymnasium, MuJoCo and deep_pg
before it can start. The launcher starts one spare per core at the beginning of a launch: they
import while the launcher composes and checks every job's config (seconds, on one core), and
each then runs the first job handed to it. Every job still gets a fresh interpreter of its own
(a spare serves one job); a spare no job needs is told to exit, and one that died is replaced by
a process started the usual way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

ENTRY = [sys.executable, "-m", "deep_pg.sweep.local_job"]


class Spares:
    def __init__(self, count: int, env: Mapping[str, str]):
        self._lock = threading.Lock()
        self._processes = [
            subprocess.Popen(
                [*ENTRY, "--spare"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(env),
            )
            for _ in range(count)
        ]

    def run(self, payload: Path, result: Path, output: Path) -> int | None:
        """Hand the job to a spare and wait for it: its exit code, or None when no live spare
        was left."""
        while True:
            with self._lock:
                if not self._processes:
                    return None
                proc = self._processes.pop(0)
            assert proc.stdin is not None
            try:
                proc.stdin.write(json.dumps([str(payload), str(result), str(output)]).encode())
                proc.stdin.close()
            except BrokenPipeError:  # it died starting (its imports failed): try the next
                proc.wait()
                continue
            code = proc.wait()
            if not output.exists():  # it died before taking the job: try the next
                continue
            return code

    def keep(self, count: int) -> None:
        """Let all but ``count`` spares go (once the launch knows it needs fewer processes)."""
        with self._lock:
            left, self._processes = self._processes[count:], self._processes[:count]
        _stop(left)

    def close(self) -> None:
        """Spares no job needed exit (their stdin closes) without leaving anything behind."""
        self.keep(0)


def _stop(processes: list[subprocess.Popen]) -> None:
    for proc in processes:
        assert proc.stdin is not None
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        proc.wait()
