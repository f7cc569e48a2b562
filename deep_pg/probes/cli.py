"""`deep-pg-probe run_dir=<run> checkpoint=<n> probe=<name> [probe.key=value ...]`

Runs probes on ``<run>/checkpoints/iter_<n>.pt`` (kept by training at each of probe.iterations),
for example later, or as separate cluster jobs. The run's own configuration comes from the
checkpoint; the ``probe`` node is composed from ``conf/probe/<name>.yaml`` and the overrides
given here (any other override, e.g. ``logger.mode=disabled``, applies too). Results are merged into
``<run>/probes/<probe>.parquet``, replacing earlier rows of that iteration.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from deep_pg import checkpoint as ckpt
from deep_pg.cli import CONF_DIR
from deep_pg.config import Config, ConfigError
from deep_pg.probes.schedule import iteration_checkpoint

log = logging.getLogger("deep_pg")
USAGE = "usage: deep-pg-probe run_dir=<run directory> checkpoint=<iteration> probe=<name> [key=value ...]"
# Settings of the run itself: taken from the checkpoint, never from the command line.
RUN_KEYS = ("algo", "env", "opt", "seed", "total_steps")


def parse_args(argv: list[str]) -> tuple[Path, int, list[str]]:
    """(run_dir, checkpoint iteration, remaining Hydra overrides); ConfigError on bad input."""
    named, overrides = {}, []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ConfigError(arg, None, "key=value arguments; " + USAGE)
        if key in ("run_dir", "checkpoint"):
            named[key] = value
        elif key.split(".")[0].lstrip("+~") in RUN_KEYS:
            raise ConfigError(key, value, "probe and logger settings only: the run's own settings "
                              "come from its checkpoint")
        else:
            overrides.append(arg)
    run_dir = Path(named.get("run_dir", ""))
    if not named.get("run_dir") or not run_dir.is_dir():
        raise ConfigError("run_dir", named.get("run_dir"), "an existing run directory; " + USAGE)
    available = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "checkpoints").glob("iter_*.pt"))
    try:
        iteration = int(named.get("checkpoint", ""))
    except ValueError:
        iteration = None
    if iteration not in available:
        raise ConfigError("checkpoint", named.get("checkpoint"),
                          f"an iteration with {run_dir}/checkpoints/iter_<n>.pt: "
                          f"{', '.join(map(str, available)) or 'none in this run (train with probe.iterations)'}")
    return run_dir, iteration, overrides


def probe_config(state: dict, overrides: list[str]):
    """The checkpoint's config with the probe (and logger) nodes composed from conf/ + overrides."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        composed = compose(config_name="config", overrides=overrides)
    cfg = OmegaConf.merge(OmegaConf.structured(Config), state["config"])
    cfg.probe, cfg.logger = composed.probe, composed.logger
    cfg.probe.iterations = []  # nothing is scheduled: this command probes one checkpoint
    return cfg


def wandb_run(cfg, run_dir: Path, probe: str, iteration: int):
    """A wandb run of its own (job_type 'probe'), so its steps never collide with training's."""
    mode = str(getattr(cfg.logger.mode, "value", cfg.logger.mode))
    if mode == "disabled":
        return None
    try:
        import wandb

        return wandb.init(project=cfg.logger.project, entity=cfg.logger.entity, mode=mode,
                          dir=str(run_dir), job_type="probe", group=cfg.logger.group,
                          name=f"{run_dir.name}-{probe}-iter{iteration}",
                          config={"run_dir": str(run_dir), "probe": OmegaConf.to_container(cfg.probe)},
                          settings=wandb.Settings(silent=True, console="off", x_disable_stats=True))
    except Exception as err:  # noqa: BLE001 - best effort, as in training
        log.warning("wandb could not start (%s); results go to the parquet files only", err)
        return None


def main(argv: list[str] | None = None) -> int:
    from deep_pg.config import validate
    from deep_pg.probes.runner import ProbeRunner
    from deep_pg.trainer import CheckpointView

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s")
    try:
        run_dir, iteration, overrides = parse_args(sys.argv[1:] if argv is None else argv)
        state = ckpt.load(run_dir / iteration_checkpoint(iteration))
        cfg = probe_config(state, overrides)
        if cfg.probe.name == "none":
            raise ConfigError("probe", "none", "a probe to run: gradient | value | baselines | "
                              "landscape | trust_region | all")
        validate(cfg)
        trainer = CheckpointView(cfg, run_dir, state)  # what probes need; writes nothing
    except (ConfigError, ckpt.CheckpointError, ValueError, KeyError) as err:
        print(f"deep-pg-probe: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # Hydra composition errors (unknown probe option, typo in a key)
        if type(err).__module__.startswith(("hydra", "omegaconf")):
            message = " ".join(str(err).split("Config search path")[0].split())
            print(f"deep-pg-probe: error: {message}", file=sys.stderr)
            return 2
        raise
    run = wandb_run(cfg, run_dir, cfg.probe.name, iteration)
    runner = ProbeRunner(cfg, run_dir, run)
    try:
        for probe, path in runner.run(trainer).items():
            print(f"deep-pg-probe: {probe} at iteration {iteration} -> {path}")
    finally:
        runner.close()
        if run is not None:
            run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
