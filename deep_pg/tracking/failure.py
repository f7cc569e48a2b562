"""What a crashed run leaves behind: a one-line reason for summary.json and the console log, and
the full traceback on stderr and in the run's log file (deep_pg.log)."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from typing import Any

from deep_pg.tracking.run_logs import FOR_EVERY_RUN

log = logging.getLogger("deep_pg")


def one_line_reason(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def log_traceback(err: BaseException) -> None:
    """Stderr and the log files (every run's of a pack) get the traceback; the console log
    (stdout under Hydra) only the reason, so a terminal shows the traceback once."""
    text = "".join(traceback.format_exception(err)).rstrip()
    print(text, file=sys.stderr, flush=True)
    record = log.makeRecord(
        log.name,
        logging.ERROR,
        __file__,
        0,
        "traceback of the crash:\n%s",
        (text,),
        None,
        extra=FOR_EVERY_RUN,
    )
    for handler in _file_handlers():
        handler.handle(record)


def summary_before_training(cfg: Any, reason: str) -> dict[str, Any]:
    """summary.json of a run that crashed before its trainer existed."""
    return {
        "status": "failed",
        "reason": reason,
        "final_return": None,
        "iterations": 0,
        "algo": cfg.algo.name,
        "env": cfg.env.name,
        "seed": cfg.seed,
    }


def _file_handlers() -> Iterator[logging.FileHandler]:
    logger: logging.Logger | None = log
    while logger is not None:
        yield from (h for h in logger.handlers if isinstance(h, logging.FileHandler))
        logger = logger.parent if logger.propagate else None
