"""Where a pack's iterations and endings go: each run's ``metrics.jsonl`` and ``summary.json``
(the record of truth), its wandb run (best effort) and the progress lines (the pack's, and each
run's in its own log)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from deep_pg.exits import RunFailed
from deep_pg.tracking.progress import Progress
from deep_pg.tracking.run_logs import about
from deep_pg.tracking.run_store import RunStore
from deep_pg.tracking.wandb_logger import WandbLogger


class PackOutputs:
    """The outputs of the runs of a pack, by launch index (a run keeps its index when others
    fail)."""

    def __init__(
        self, stores: Sequence[RunStore], loggers: Sequence[WandbLogger], progress: Progress
    ):
        self.stores, self.loggers, self.progress = list(stores), list(loggers), progress

    def iteration(self, rows: Mapping[int, dict[str, Any]], diverged: Collection[int]) -> None:
        """The rows of the runs that trained this iteration (launch index -> row). A diverged
        run's row is not recorded (the run fails), but a single run's progress line shows it."""
        kept = {m: row for m, row in rows.items() if m not in diverged}
        for m, row in kept.items():
            self.stores[m].append_metrics(row)
            with about(self.stores[m].run_dir):  # wandb's warnings are this run's
                self.loggers[m].log(row, step=row["iteration"])
        if len(self.stores) == 1:
            (row,) = rows.values()
            with about(self.stores[0].run_dir):
                self.progress.update(row)
        else:
            iteration = next(iter(rows.values()))["iteration"]
            runs = [(self.stores[m].run_dir, row) for m, row in kept.items()]
            self.progress.update_pack(runs, iteration)

    def failed(self, m: int, summary: dict[str, Any]) -> None:
        self._end(m, summary, exit_code=RunFailed.exit_code)

    def completed(self, m: int, summary: dict[str, Any]) -> None:
        with about(self.stores[m].run_dir):
            self._end(m, summary, exit_code=0)

    def _end(self, m: int, summary: dict[str, Any], exit_code: int) -> None:
        self.stores[m].write_summary(summary)
        self.loggers[m].log_summary(summary)
        self.loggers[m].finish(exit_code=exit_code)

    def close(self) -> None:
        """Ends the live bar, if any (before a traceback is printed under it)."""
        self.progress.close()
