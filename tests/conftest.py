"""Shared test helpers: compose real configs from conf/ and run tiny trainings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from deep_pg.cli import CONF_DIR
from deep_pg.probes.results import PROBES_DIR

REPO = Path(__file__).resolve().parents[1]

# A training run that takes about a second: Pendulum, 4 iterations of 256 steps.
TINY = [
    "env=pendulum",
    "total_steps=1024",
    "algo.steps_per_iter=256",
    "algo.num_minibatches=4",
    "algo.epochs=2",
    "algo.value_epochs=2",
    "logger.mode=disabled",
]

# A gradient probe of a few seconds ("true" gradient of 2048 pairs in parts of 256) on a TINY run
# trained with the first entry; the others are the probe's own settings (deep-pg-probe's).
PROBE = [
    "algo.hidden_sizes=[16]",
    "probe.sample_counts=[64,256]",
    "probe.num_estimates=3",
    "probe.true_samples=2048",
    "probe.part_pairs=256",
    "probe.envs_per_worker=4",
    "probe.bootstrap_resamples=50",
]


def make_cfg(*overrides: str):
    """The config `deep-pg <overrides>` would run with (without Hydra's own node)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `deep-pg` console entry point in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "deep_pg", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"deep-pg {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def start_and_kill(
    *args: str, cwd: Path, run_dir: Path, after_iterations: int, need_checkpoint: bool = True
) -> None:
    """Start `deep-pg` and SIGKILL it once it has ``after_iterations`` metric lines (and a
    checkpoint, unless ``need_checkpoint`` is false): a run killed mid-training, as by a node
    failure or an OOM kill."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "deep_pg", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metrics, checkpoint = run_dir / "metrics.jsonl", run_dir / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if (
                (checkpoint.exists() or not need_checkpoint)
                and metrics.exists()
                and len(metrics.read_text().splitlines()) >= after_iterations
            ):
                break
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (run_dir / "summary.json").exists(), "the run finished before it could be killed"


@pytest.fixture
def tiny():
    return list(TINY)


def numpy_policy(policy):
    """The member's mean as a numpy function and its std: the policy evaluated without torch's
    modules."""
    layers = [
        (m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
        for m in policy.mean
        if isinstance(m, torch.nn.Linear)
    ]

    def mean(x):
        for i, (w, b) in enumerate(layers):
            x = x @ w.T + b
            if i < len(layers) - 1:
                x = np.tanh(x)
        return x

    return mean, np.exp(policy.log_std.detach().double().numpy())


def log_density(actions, mean, std):
    """log N(actions; mean, diag(std^2)), summed over the action dimensions."""
    return (-0.5 * ((actions - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)


def read_results(run_dir: Path, probe: str) -> pd.DataFrame:
    """A run's table of one probe, ``<run_dir>/probes/<probe>.parquet``."""
    return pd.read_parquet(Path(run_dir) / PROBES_DIR / f"{probe}.parquet")
