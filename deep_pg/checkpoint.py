"""Atomic checkpoints: a reader never sees a half-written file, a crash never loses the last one.

A run keeps two: ``checkpoints/last.pt`` and the one before it, ``checkpoints/prev.pt``. Each
write of last.pt first makes the current last.pt the previous one (a hard link renamed over
prev.pt, both atomic), so at every moment last.pt is whole or absent and prev.pt is an older whole
state. A last.pt that cannot be read (copied while written, disk trouble) is not the end of the
run: ``latest`` falls back to prev.pt.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from deep_pg.atomic import atomic_open

LAST_CHECKPOINT = "checkpoints/last.pt"
PREVIOUS_CHECKPOINT = "checkpoints/prev.pt"


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or belongs to a different configuration."""


def save_atomic(state: dict[str, Any], path: Path) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def save_rotating(state: dict[str, Any], run_dir: Path) -> Path:
    """Write ``run_dir``'s last.pt, keeping the one it replaces as prev.pt."""
    last, previous = Path(run_dir) / LAST_CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT
    if last.exists():
        staged = previous.with_name(f".{previous.name}.staged")
        staged.unlink(missing_ok=True)
        try:
            os.link(last, staged)  # a second name for the same file: nothing is copied
        except OSError:  # a file system without hard links
            shutil.copyfile(last, staged)
        os.replace(staged, previous)
    save_atomic(state, last)
    return last


@dataclass
class Latest:
    """The checkpoint a run continues from: its path, its state, and why last.pt was passed over
    (None when last.pt was read)."""

    path: Path
    state: dict[str, Any]
    fallback_reason: str | None = None


def latest(run_dir: Path) -> Latest | None:
    """last.pt, or prev.pt when last.pt is unreadable or missing; None when the run has neither.
    Raises CheckpointError when neither can be read."""
    last, previous = Path(run_dir) / LAST_CHECKPOINT, Path(run_dir) / PREVIOUS_CHECKPOINT
    if not last.exists() and not previous.exists():
        return None
    if not last.exists():
        return _previous(previous, f"{last} is missing")
    try:
        return Latest(last, load(last))
    except CheckpointError as err:
        return _previous(previous, str(err))


def _previous(previous: Path, reason: str) -> Latest:
    if not previous.exists():
        raise CheckpointError(f"{reason}, and there is no {previous.name} to fall back to")
    try:
        return Latest(previous, load(previous), reason)
    except CheckpointError as err:
        raise CheckpointError(f"{reason}; the previous one is unreadable too: {err}") from err


def load(path: Path) -> dict[str, Any]:
    try:
        # Our own files hold numpy arrays and RNG states, which weights_only loading rejects.
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated, corrupt, not a torch file
        said = str(err).strip().splitlines()  # its first sentence: torch adds a paragraph
        raise CheckpointError(
            f"cannot read checkpoint {path}: "
            f"{said[0].split('. ')[0] if said else type(err).__name__}"
        ) from err


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

    def __init__(
        self,
        every: int,
        every_minutes: float,
        also_at: Iterable[int] = (),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.every, self.seconds, self.also_at = every, 60.0 * every_minutes, set(also_at)
        self.clock = clock
        self.last_write = clock()

    def due(self, iteration: int) -> bool:
        return (
            iteration % self.every == 0
            or iteration in self.also_at
            or self.clock() - self.last_write >= self.seconds
        )

    def written(self) -> None:
        self.last_write = self.clock()
