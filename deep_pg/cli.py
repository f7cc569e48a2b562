"""The `deep-pg` entry point: a thin Hydra app that hands the composed config to the Trainer.
Bad input, Hydra's own errors included, is one line `deep-pg: error: ...` and exit code 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from deep_pg import exits
from deep_pg.config import register_configs
from deep_pg.hydra_errors import run_app
from deep_pg.sweep.presets import combine_sweep_presets
from deep_pg.sweep.resolvers import register_resolvers

# A console script has no meaningful working directory, so a relative config_path would break:
# resolve the repository's conf/ from this file (DEEP_PG_CONF points elsewhere if needed).
CONF_DIR = os.environ.get("DEEP_PG_CONF", str(Path(__file__).resolve().parents[1] / "conf"))

register_configs()
register_resolvers()


def train(cfg: DictConfig) -> float | None:
    from deep_pg.run import run_training

    return run_training(cfg)


_hydra_main = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")(train)


SHOW_SWEEP = "deep-pg +sweep=<preset> --cfg all --resolve -p hydra.sweeper.params"


def refuse_cfg_with_multirun(args: list[str]) -> None:
    """Hydra answers `-m ... --cfg` with a raw traceback; say in one line what works instead."""
    flags = {arg.split("=")[0] for arg in args}
    if flags & {"-m", "--multirun"} and flags & {"-c", "--cfg"}:
        exits.fail(
            f"invalid value for '--cfg': together with -m (allowed: without -m; "
            f"a sweep's parameters: {SHOW_SWEEP})"
        )


def main() -> None:
    exits.set_program("deep-pg")
    refuse_cfg_with_multirun(sys.argv[1:])
    # Hydra rejects a repeated group, so `+sweep=a +sweep=b` becomes `+sweep=[a,b]` before
    # Hydra reads sys.argv.
    sys.argv[1:] = combine_sweep_presets(sys.argv[1:])
    run_app(_hydra_main, train)
