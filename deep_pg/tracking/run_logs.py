"""Each run of a pack keeps its own log: ``deep_pg.log`` in its run directory holds the lines about
that run only, while the pack's own log (the process's output: the local launcher's
``pack_<n>.out``, a Slurm task's submitit log) holds every line but the runs' own progress lines.

Code that logs about one run does so inside ``about(run_dir)``; a line logged outside is about the
pack. A run's own progress line goes to ``RUN_ONLY``, which reaches run logs only. A line logged
with ``extra=FOR_EVERY_RUN`` reaches every run's log: how the runs are packed, a crash's
traceback (a crash of the pack is each run's crash). A single run (``deep-pg``, an unpacked
sweep job) logs through Hydra's own file handler and needs none of this.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

LOG_FILE = "deep_pg.log"
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
EVERY_RUN = "deep_pg_every_run"  # a record attribute: the line belongs in every run's log
FOR_EVERY_RUN = {EVERY_RUN: True}  # logging's extra= for a line about every run of the pack

RUN_ONLY = logging.getLogger("deep_pg.progress")
RUN_ONLY.propagate = False  # not in the pack's own log

_about: ContextVar[Path | None] = ContextVar("deep_pg_log_about", default=None)


@contextmanager
def about(run_dir: Path) -> Iterator[None]:
    """Lines logged inside are about the run in ``run_dir``."""
    token = _about.set(Path(run_dir))
    try:
        yield
    finally:
        _about.reset(token)


class _AboutRun(logging.Filter):
    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = Path(run_dir)

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, EVERY_RUN, False) or _about.get() == self.run_dir


class RunLogs:
    """The ``deep_pg.log`` of each run of a pack, open while the pack trains."""

    def __init__(self, run_dirs: Sequence[Path]):
        self.handlers = []
        for run_dir in run_dirs:
            handler = logging.FileHandler(Path(run_dir) / LOG_FILE)
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            handler.addFilter(_AboutRun(run_dir))
            self.handlers.append(handler)
        for logger in (logging.getLogger(), RUN_ONLY):
            for handler in self.handlers:
                logger.addHandler(handler)

    def close(self) -> None:
        for logger in (logging.getLogger(), RUN_ONLY):
            for handler in self.handlers:
                logger.removeHandler(handler)
        for handler in self.handlers:
            handler.close()
