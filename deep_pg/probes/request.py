"""What one ``deep-pg-probe`` job asks for, checked and loaded before anything runs.

The app's config (``ProbeAppConfig``): ``run_dir`` and ``checkpoint`` name a kept checkpoint,
``probe`` and ``logger`` are training's nodes, ``shard`` is set by the launchers for the jobs of a
sharded probe. The run's own settings come from the checkpoint. Launchers call the same checks
before launching (``deep_pg.sweep.apps``), so a bad probe sweep stops whole, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from deep_pg import checkpoint as ckpt
from deep_pg.config import (
    Config,
    ConfigError,
    LoggerConfig,
    ProbeConfig,
    check_known_keys,
    validate,
)
from deep_pg.probe_settings import PROBES, selected_probes, sharded_parts
from deep_pg.probes import done
from deep_pg.probes.schedule import iteration_checkpoint

LAST = "last"  # checkpoint=last: the run's checkpoints/last.pt


@dataclass
class ProbeAppConfig:
    run_dir: str | None = None  # a training run's directory
    checkpoint: Any = None  # an iteration with <run_dir>/checkpoints/iter_<n>.pt, or last
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    shard: int | None = None  # set by the launchers: draw shard <shard> of probe.shards
    force: bool = False  # recompute a result that exists with identical settings


def register_probe_app() -> None:
    ConfigStore.instance().store(name="deep_pg_probe_schema", node=ProbeAppConfig)


@dataclass
class ProbeRequest:
    run_dir: Path
    iteration: int
    state: dict  # the checkpoint
    cfg: DictConfig  # the run's config with this request's probe and logger nodes
    shard: int | None
    force: bool

    @property
    def probes(self) -> list[str]:
        return selected_probes(self.cfg.probe.name)


def load_request(app_cfg: DictConfig) -> ProbeRequest:
    """The request of a job's config (with or without Hydra's node); ConfigError on bad input."""
    check_known_keys(app_cfg, ProbeAppConfig)
    given = None if OmegaConf.is_missing(app_cfg, "run_dir") else app_cfg.run_dir
    run_dir = Path(str(given)) if given else None
    if run_dir is None or not (run_dir / "checkpoints").is_dir():
        raise ConfigError("run_dir", given, "the directory of a training run (with checkpoints/)")
    wanted = None if OmegaConf.is_missing(app_cfg, "checkpoint") else app_cfg.checkpoint
    state = find_checkpoint(run_dir, wanted)
    iteration = state["counters"]["iteration"]
    cfg = cast(
        DictConfig,
        OmegaConf.merge(
            OmegaConf.structured(Config),
            state["config"],
            {
                "probe": OmegaConf.to_container(app_cfg.probe, resolve=True),
                "logger": OmegaConf.to_container(app_cfg.logger, resolve=True),
            },
        ),
    )
    cfg.probe.iterations = []  # nothing is scheduled: this job probes one checkpoint
    if cfg.probe.name == "none":
        raise ConfigError("probe", "none", " | ".join((*PROBES, "all")))
    validate(cfg)
    shards, shard = cfg.probe.shards, app_cfg.shard
    if shard is not None and not 0 <= shard < shards:
        raise ConfigError(
            "shard", shard, f"null, or 0..{shards - 1} (a shard of probe.shards={shards})"
        )
    return ProbeRequest(run_dir, iteration, state, cfg, shard, bool(app_cfg.force))


def find_checkpoint(run_dir: Path, wanted: Any) -> dict:
    """The state ``checkpoint=<wanted>`` names: ``checkpoints/iter_<n>.pt``, kept at each of
    probe.iterations, or ``last`` (``checkpoints/last.pt``, which every run has; its iteration
    also names it)."""
    if isinstance(wanted, str) and wanted.isdigit():
        wanted = int(wanted)
    kept = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "checkpoints").glob("iter_*.pt"))
    if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted in kept:
        return _read(run_dir / iteration_checkpoint(wanted), wanted)
    last = run_dir / ckpt.LAST_CHECKPOINT
    state = _read(last, wanted) if last.exists() else None
    at = state["counters"]["iteration"] if state else None
    if state is not None and not isinstance(wanted, bool) and wanted in (LAST, at):
        return state
    raise ConfigError(
        "checkpoint",
        wanted,
        (
            f"an iteration kept in {run_dir}/checkpoints/iter_<n>.pt: "
            f"{', '.join(map(str, kept)) or 'none (train with probe.iterations to keep some)'}; or "
            + (
                f"{LAST} (checkpoints/last.pt, iteration {at})"
                if state
                else f"{LAST} (no checkpoints/last.pt yet)"
            )
        ),
    )


def _read(path: Path, wanted: Any) -> dict:
    try:
        return ckpt.load(path)
    except ckpt.CheckpointError as err:
        raise ConfigError("checkpoint", wanted, f"a readable checkpoint ({err})") from err


def results_complete(request: ProbeRequest) -> bool:
    """Every probe of the request has a result with identical settings (not with force=true): the
    question ``done.table_complete`` answers for one probe, asked for all of the request's."""
    return not request.force and all(
        done.table_complete(request.run_dir, name, request.iteration, request.cfg.probe)
        for name in request.probes
    )


def probe_job_done(app_cfg: DictConfig) -> bool:
    """For launchers (skip-if-done): the request's results are complete (``results_complete``),
    or, for a shard job, its parts are all drawn (the results are then merged by another job)."""
    request = load_request(app_cfg)
    if results_complete(request):
        return True
    return request.shard is not None and not request.force and not missing_parts(request)


def missing_parts(request: ProbeRequest) -> dict[str, list[int]]:
    """The parts a shard job has still to draw, by probe (only probes with missing parts)."""
    from deep_pg.probes import shards
    from deep_pg.probes.checkpoint_view import CheckpointView

    p = request.cfg.probe
    assert request.shard is not None  # a shard job's request
    view = CheckpointView(request.cfg, request.run_dir, request.state)
    store = shards.PartStore(
        request.run_dir, request.cfg, request.iteration, view.agent.policy, done.settings(p)
    )
    missing = {
        name: shards.missing_parts(store, name, count, p.shards, request.shard)
        for name, count in sharded_parts(p).items()
    }
    return {name: parts for name, parts in missing.items() if parts}
