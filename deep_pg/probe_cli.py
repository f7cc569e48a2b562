"""`deep-pg-probe run_dir=<run> checkpoint=<n> probe=<name> [probe.key=value ...]`: a Hydra app.

Runs probes on ``<run>/checkpoints/iter_<n>.pt`` (kept by training at each of probe.iterations),
later or as cluster jobs: ``-m`` with ``hydra/launcher=local|slurm`` fans probe jobs out as
``deep-pg`` fans out training (``deep_pg.sweep``: pre-launch checks, skip-if-done, sweep index).
The run's own configuration comes from the checkpoint; ``probe`` and ``logger`` are composed from
conf/ and the overrides. Results are merged into ``<run>/probes/<probe>.parquet``, replacing
earlier rows of that iteration; a result that exists with identical settings is not recomputed
(``force=true`` does). With ``probe.shards=S`` the "true" gradient's sample is drawn by S shard
jobs and reduced by this one (``deep_pg.probes.shards``); without a launcher it draws the parts
itself, in order. Loads only what probes need from the checkpoint: no Trainer, no re-seeding.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from deep_pg import exits
from deep_pg.cli import CONF_DIR, refuse_cfg_with_multirun
from deep_pg.config import ConfigError, register_configs
from deep_pg.exits import BadInput
from deep_pg.hydra_errors import run_app
from deep_pg.identity import IDENTITY_KEYS
from deep_pg.probes.request import (
    ProbeRequest,
    load_request,
    register_probe_app,
    results_complete,
)
from deep_pg.sweep.resolvers import register_resolvers
from deep_pg.tracking.wandb_logger import run_name, start_run

log = logging.getLogger("deep_pg")
# Settings of the run itself: taken from the checkpoint, never from the command line.
RUN_KEYS = (*IDENTITY_KEYS, "torch_threads")

register_configs()
register_probe_app()
register_resolvers()


def refuse_run_keys(args: list[str]) -> None:
    """Hydra would reject these as keys the app lacks; say why in one line."""
    for arg in args:
        key, _, value = arg.partition("=")
        name = key.lstrip("+~")
        if not arg.startswith("-") and name.split(".")[0] in RUN_KEYS:
            exits.fail(
                str(
                    ConfigError(
                        name,
                        value,
                        "probe and logger settings, run_dir, checkpoint "
                        "(the run's own settings come from its checkpoint)",
                    )
                )
            )


def bad_input(err: ConfigError) -> BadInput:
    """One line on stderr; the job directory Hydra made goes if it holds only its bookkeeping."""
    from hydra.core.hydra_config import HydraConfig

    exits.report(str(err))
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    if job_dir.is_dir() and all(
        p.name == ".hydra" or p.suffix == ".log" for p in job_dir.iterdir()
    ):
        shutil.rmtree(job_dir, ignore_errors=True)
    return BadInput(str(err))


def run_probe_job(app_cfg: DictConfig) -> list[str]:
    """The app's task: the files written (none when the result was there already)."""
    try:
        request = load_request(app_cfg)
    except ConfigError as err:
        raise bad_input(err) from err
    if results_complete(request):
        log.info(
            "%s at iteration %d: done with these settings in %s; nothing to do (force=true "
            "recomputes)",
            request.cfg.probe.name,
            request.iteration,
            request.run_dir,
        )
        return []
    return [str(p) for p in probe(request)]


def probe(request: ProbeRequest) -> list[Path]:
    from deep_pg.probes.checkpoint_view import CheckpointView
    from deep_pg.probes.runner import ProbeRunner

    view = CheckpointView(request.cfg, request.run_dir, request.state)  # what probes need
    sharded = request.shard is not None
    # A wandb run of its own (job_type 'probe'), so its steps never collide with training's.
    run = (
        None
        if sharded
        else start_run(
            request.cfg,
            request.run_dir,
            job_type="probe",
            group=request.cfg.logger.group,
            name=f"{run_name(request.cfg, request.run_dir)}-{request.cfg.probe.name}"
            f"-iter{request.iteration}",
            config={
                "run_dir": str(request.run_dir),
                "probe": OmegaConf.to_container(request.cfg.probe),
            },
        )
    )
    runner = ProbeRunner(request.cfg, request.run_dir, run)
    try:
        if request.shard is not None:  # sharded
            return runner.run_shard(view, request.shard)
        if request.cfg.probe.shards > 1:
            log.info(
                "probe.shards=%d: parts no shard job drew are drawn here, in order",
                request.cfg.probe.shards,
            )
        written = runner.run(view)
        for name, path in written.items():
            print(f"deep-pg-probe: {name} at iteration {request.iteration} -> {path}")
        return list(written.values())
    finally:
        runner.close()
        if run is not None:
            run.finish()


_hydra_main = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="deep_pg_probe")(
    run_probe_job
)


def main() -> None:
    exits.set_program("deep-pg-probe")
    refuse_cfg_with_multirun(sys.argv[1:])
    refuse_run_keys(sys.argv[1:])
    run_app(_hydra_main, run_probe_job)


if __name__ == "__main__":
    main()
