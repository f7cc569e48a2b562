"""Progress on a terminal (a live bar) or in a log file (a plain line every few iterations)."""
from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("deep_pg")


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


class Progress:
    def __init__(self, total_iterations: int, start_iteration: int, log_every: int):
        self.total, self.log_every = total_iterations, log_every
        self.bar = None
        if sys.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_iterations, initial=start_iteration, unit="it",
                            dynamic_ncols=True, desc="deep-pg")

    def update(self, row: dict[str, Any]) -> None:
        text = (f"steps {row['env_steps']:,} | return {_fmt(row['return_mean'], '.1f')} "
                f"| sps {row['sps']:.0f}")
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif row["iteration"] % self.log_every == 0 or row["iteration"] == self.total:
            log.info("iteration %d/%d | %s | mean_kl %.4f", row["iteration"], self.total, text,
                     row["mean_kl"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
