"""Atomic checkpoints: a reader never sees a half-written file, a crash never loses the last one."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from deep_pg.atomic import atomic_open


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or belongs to a different configuration."""


def save_atomic(state: dict[str, Any], path: Path) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def load(path: Path) -> dict[str, Any]:
    try:
        # Our own files hold numpy arrays and RNG states, which weights_only loading rejects.
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated, corrupt, not a torch file
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err


def first_mismatch(saved: Any, current: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first key (dotted) whose value differs between two nested dicts, or None."""
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            found = first_mismatch(saved.get(key), current.get(key), f"{prefix}{key}.")
            if found:
                return found
        return None
    return None if saved == current else (prefix.rstrip("."), saved, current)


class CheckpointCadence:
    """When to write checkpoints/last.pt: every ``every`` iterations or once ``every_minutes`` have
    passed since the last write, whichever comes first, and at each of ``also_at`` (probe
    iterations). Time bounds the work a kill loses when iterations are slow (large batches)."""

    def __init__(self, every: int, every_minutes: float, also_at: Iterable[int] = (),
                 clock: Callable[[], float] = time.monotonic):
        self.every, self.seconds, self.also_at = every, 60.0 * every_minutes, set(also_at)
        self.clock = clock
        self.last_write = clock()

    def due(self, iteration: int) -> bool:
        return (iteration % self.every == 0 or iteration in self.also_at
                or self.clock() - self.last_write >= self.seconds)

    def written(self) -> None:
        self.last_write = self.clock()
