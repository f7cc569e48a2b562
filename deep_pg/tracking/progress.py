"""Progress on a terminal (a live bar) or in a log file (a plain line every few iterations or
seconds, whichever comes first, so a piped or Slurm run is never silent for long)."""
from __future__ import annotations

import logging
import sys
import time
from typing import Any, Callable

log = logging.getLogger("deep_pg")


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def fmt_return(value: float | None) -> str:
    """Returns as log lines show them: one decimal."""
    return _fmt(value, ".1f")


def count(n: int, noun: str) -> str:
    """'1 iteration', '4 iterations'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


class Progress:
    def __init__(self, total_iterations: int, start_iteration: int, log_every: int,
                 log_every_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.total, self.log_every, self.log_every_seconds = (total_iterations, log_every,
                                                              log_every_seconds)
        self.clock = clock
        self.last_line = clock()
        self.bar = None
        if sys.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_iterations, initial=start_iteration, unit="it",
                            dynamic_ncols=True, desc="deep-pg")

    def update(self, row: dict[str, Any]) -> None:
        text = (f"steps {row['env_steps']:,} | return {fmt_return(row['return_mean'])} "
                f"| sps {row['sps']:.0f}")
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif self._line_due(row["iteration"]):
            self.last_line = self.clock()
            log.info("iteration %d/%d | %s | mean_kl %.4f", row["iteration"], self.total, text,
                     row["mean_kl"])

    def _line_due(self, iteration: int) -> bool:
        return (iteration % self.log_every == 0 or iteration == self.total
                or self.clock() - self.last_line >= self.log_every_seconds)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
