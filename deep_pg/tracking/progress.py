"""Progress on a terminal (a live bar) or in a log file (a plain line every few iterations or
seconds, whichever comes first, so a piped or Slurm run is never silent for long)."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deep_pg.tracking.run_logs import RUN_ONLY, about

log = logging.getLogger("deep_pg")


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def fmt_return(value: float | None) -> str:
    """Returns as log lines show them: one decimal."""
    return _fmt(value, ".1f")


def count(n: int, noun: str) -> str:
    """'1 iteration', '4 iterations'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run_text(row: dict[str, Any]) -> str:
    return (
        f"steps {row['env_steps']:,} | return {fmt_return(row['return_mean'])} "
        f"| sps {row['sps']:.0f}"
    )


def pack_text(rows: Sequence[dict[str, Any]]) -> str:
    """A pack's progress: its runs, their mean and range of returns, the pack's steps/s."""
    returns = [r["return_mean"] for r in rows if r["return_mean"] is not None]
    said = (
        f"return mean {fmt_return(sum(returns) / len(returns))} "
        f"(runs {fmt_return(min(returns))} to {fmt_return(max(returns))})"
        if returns
        else "return n/a"
    )
    return (
        f"pack of {count(len(rows), 'run')}: steps {rows[0]['env_steps']:,} each | {said} "
        f"| sps {sum(r['sps'] for r in rows):.0f} in all"
    )


def _terminal_with_a_width() -> bool:
    """Whether a live bar can be drawn: output to a terminal that has columns. A pseudo-terminal
    without a size (some CI runners, ``script`` without a terminal) would show the bar as an
    empty line; there the plain progress lines are printed instead."""
    if not sys.stdout.isatty():
        return False
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError):
        return False


class Progress:
    """A run's progress, or a pack's: the pack's line in the pack's own log and each run's own
    line in that run's log (``deep_pg.tracking.run_logs``)."""

    def __init__(
        self,
        total_iterations: int,
        start_iteration: int,
        log_every: int,
        log_every_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total, self.log_every, self.log_every_seconds = (
            total_iterations,
            log_every,
            log_every_seconds,
        )
        self.clock = clock
        self.last_line = clock()
        self.bar = None
        if _terminal_with_a_width():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_iterations,
                initial=start_iteration,
                unit="it",
                dynamic_ncols=True,
                desc="deep-pg",
            )

    def update(self, row: dict[str, Any]) -> None:
        """One run's iteration."""
        if self._advance(row["iteration"], run_text(row)):
            log.info(
                "iteration %d/%d | %s | mean_kl %.4f",
                row["iteration"],
                self.total,
                run_text(row),
                row["mean_kl"],
            )

    def update_pack(self, runs: Sequence[tuple[Path, dict[str, Any]]], iteration: int) -> None:
        """A pack's iteration: each run still training, with its row."""
        rows = [row for _, row in runs]
        text = pack_text(rows) if rows else "no run left"
        if not self._advance(iteration, text):
            return
        log.info("iteration %d/%d | %s", iteration, self.total, text)
        for run_dir, row in runs:
            with about(run_dir):
                RUN_ONLY.info(
                    "iteration %d/%d | %s | mean_kl %.4f",
                    iteration,
                    self.total,
                    run_text(row),
                    row["mean_kl"],
                )

    def _advance(self, iteration: int, text: str) -> bool:
        """Move the bar on a terminal; whether a line is due (always false with a bar)."""
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
            return False
        if not self._line_due(iteration):
            return False
        self.last_line = self.clock()
        return True

    def _line_due(self, iteration: int) -> bool:
        return (
            iteration % self.log_every == 0
            or iteration == self.total
            or self.clock() - self.last_line >= self.log_every_seconds
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
