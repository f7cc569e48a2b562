"""Skip-if-done for probes: ``probes/done/<probe>_iter_<n>.json`` holds the settings a result was
computed with. It is written after the result (atomically), so a probe result with identical
settings is not recomputed (by ``deep-pg-probe`` or a relaunched probe sweep), and a change of
any probe setting that shapes the result computes it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from omegaconf import OmegaConf

from deep_pg.atomic import atomic_open
from deep_pg.probes.results import PROBES_DIR

# What says which probes run, when, and in how many jobs: none of it changes a result.
NOT_SETTINGS = ("name", "iterations", "shards")


def settings(probe_cfg) -> dict:
    given = (
        cast(dict, OmegaConf.to_container(probe_cfg, resolve=True))
        if OmegaConf.is_config(probe_cfg)
        else dict(probe_cfg)
    )
    return {k: v for k, v in given.items() if k not in NOT_SETTINGS}


def _path(run_dir: Path, probe: str, iteration: int) -> Path:
    return Path(run_dir) / PROBES_DIR / "done" / f"{probe}_iter_{iteration}.json"


def mark_done(run_dir: Path, probe: str, iteration: int, probe_cfg) -> None:
    with atomic_open(_path(run_dir, probe, iteration)) as f:
        json.dump(settings(probe_cfg), f, sort_keys=True)


def table_complete(run_dir: Path, probe: str, iteration: int, probe_cfg) -> bool:
    """Is this one probe's result at ``iteration`` in its table, computed with these settings?
    (Not whether the run is done: that is ``deep_pg.tracking.run_store.training_completed``.)"""
    path = _path(run_dir, probe, iteration)
    table = Path(run_dir) / PROBES_DIR / f"{probe}.parquet"
    try:
        return (
            table.exists() and path.exists() and json.loads(path.read_text()) == settings(probe_cfg)
        )
    except (OSError, json.JSONDecodeError):
        return False
