"""A probe's expensive sample in numbered parts, so that ``probe.shards`` jobs can draw it together.

Three probes draw most of their cost as independent parts (counted by
``deep_pg.probe_settings.sharded_parts``): the gradient probe's "true" sample
(``deep_pg.probes.truth``), the baselines probe's fit data for the "true" value network, and the
landscape probe's return estimates, one part per (point, sample count). Part ``p`` is drawn from
its own seed, so which job draws a part, and how many jobs run at once, never changes the sample:
a sharded result is the unsharded one.

Shard ``s`` of ``S`` draws a contiguous range of each selected probe's parts into ``PartStore``
(atomic files in the run directory); the reduce (the probe itself) reads them and draws whatever
is missing, and the parts are removed once the probe's table holds them.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deep_pg.atomic import atomic_open
from deep_pg.networks import flat_parameters

SHARDS_DIR = "probes/shards"

Drawer = Callable[[int], Any]  # part number -> the part (anything torch.save can store)


class PartStore:
    """``probes/shards/iter_<n>/<probe>.part<p>.pt`` in the run directory. Each file carries
    what it was drawn from (probe settings, policy parameters, the statistics of the frozen
    ``normalizers`` the data was scaled with), so a stale part is redrawn."""

    def __init__(
        self, run_dir: Path, cfg, iteration: int, policy, settings: dict, normalizers: tuple = ()
    ):
        self.dir = Path(run_dir) / SHARDS_DIR / f"iter_{iteration}"
        params = flat_parameters(policy).detach().numpy().tobytes()
        self.identity = {
            "settings": settings,
            "seed": int(cfg.seed),
            "iteration": iteration,
            "policy": hashlib.sha256(params).hexdigest(),
            "normalizers": [statistics_digest(n) for n in normalizers],
        }

    def path(self, probe: str, part: int) -> Path:
        return self.dir / f"{probe}.part{part}.pt"

    def load(self, probe: str, part: int) -> Any | None:
        path = self.path(probe, part)
        if not path.exists():
            return None
        saved = torch.load(path, weights_only=False)
        return saved["part"] if saved["identity"] == self.identity else None

    def save(self, probe: str, part: int, data: Any) -> None:
        with atomic_open(self.path(probe, part), "wb") as f:
            torch.save({"identity": self.identity, "part": data}, f)

    def clear(self, probes: Iterable[str]) -> None:
        """After the reduce: these probes' parts are in their tables now."""
        for probe in probes:
            for path in self.dir.glob(f"{probe}.part*.pt"):
                path.unlink()
        if self.dir.is_dir() and not any(self.dir.iterdir()):
            shutil.rmtree(self.dir)
        if self.dir.parent.is_dir() and not any(self.dir.parent.iterdir()):
            self.dir.parent.rmdir()


def statistics_digest(normalizer) -> str:
    """A normalizer's (or reward scaler's) running statistics as one digest."""
    stats = normalizer.stats.state_dict()
    digest = hashlib.sha256()
    for key in sorted(stats):
        digest.update(np.asarray(stats[key], dtype=np.float64).tobytes())
    return digest.hexdigest()


def shard_parts(num_parts: int, shards: int, shard: int) -> range:
    """The contiguous parts shard ``shard`` of ``shards`` draws (sizes differ by at most one)."""
    bounds = np.linspace(0, num_parts, shards + 1).round().astype(int)
    return range(bounds[shard], bounds[shard + 1])


def missing_parts(
    store: PartStore, probe: str, num_parts: int, shards: int, shard: int
) -> list[int]:
    return [p for p in shard_parts(num_parts, shards, shard) if store.load(probe, p) is None]


def draw_shard(
    store: PartStore, probe: str, num_parts: int, shards: int, shard: int, draw: Drawer
) -> list[Path]:
    """Draw shard ``shard``'s parts of ``probe`` into ``store``; parts already there stay."""
    for part in missing_parts(store, probe, num_parts, shards, shard):
        store.save(probe, part, draw(part))
    return [store.path(probe, p) for p in shard_parts(num_parts, shards, shard)]


def all_parts(store: PartStore | None, probe: str, num_parts: int, draw: Drawer) -> list:
    """Every part of ``probe``'s sample, read from ``store`` where a shard job drew it, else drawn
    here."""
    return [(store.load(probe, p) if store else None) or draw(p) for p in range(num_parts)]
