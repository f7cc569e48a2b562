"""Atomic checkpoints: a reader never sees a half-written file, a crash never loses the last one."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or belongs to a different configuration."""


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
