"""`deep-pg-probe` as a Hydra app: --help and --cfg, and sharded probe sweeps (gradient, landscape)
through the local launcher that reduce into the table an unsharded probe writes, then skip it
when relaunched."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import PROBE, TINY, make_cfg, read_results

from deep_pg.sweep import index


def probe_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "deep_pg.probe_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_help_and_cfg_job(tmp_path):
    help_ = probe_cli("--help", cwd=tmp_path)
    assert help_.returncode == 0 and "probe.shards" in help_.stdout and "run_dir=" in help_.stdout
    cfg = probe_cli(
        "run_dir=somewhere",
        "checkpoint=150",
        "probe=gradient",
        "probe.shards=4",
        "--cfg",
        "job",
        cwd=tmp_path,
    )
    assert cfg.returncode == 0, cfg.stderr
    assert "run_dir: somewhere" in cfg.stdout and "shards: 4" in cfg.stdout
    assert not (tmp_path / "outputs").exists()


# A 2 x 2 landscape at one sample count: 4 parts, the return estimates at its points.
LANDSCAPE = [
    "probe.landscape_grid=2",
    "probe.landscape_samples=[200]",
    "probe.landscape_step_samples=[256]",
]


@pytest.mark.parametrize(
    "probe, settings, num_shards", [("gradient", [], 3), ("landscape", LANDSCAPE, 2)]
)
def test_sharded_probe_sweep_reduces_to_the_unsharded_table_and_skips_when_done(
    tmp_path, probe, settings, num_shards
):
    from deep_pg.run import run_training

    run_dir = tmp_path / "run"  # training runs the probe at iteration 0, unsharded
    run_training(
        make_cfg(*TINY, *PROBE, *settings, f"probe={probe}", "probe.iterations=[0]"), run_dir
    )
    unsharded = read_results(run_dir, probe)
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        f"run_dir={run_dir}",
        "checkpoint=0",
        f"probe={probe}",
        *PROBE[1:],
        *settings,
        f"probe.shards={num_shards}",
        "logger.mode=disabled",
        f"hydra.sweep.dir={sweep}",
    ]
    proc = probe_cli(*args, "force=true", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = index.read(sweep)
    assert sorted(line["job"] for line in lines) == list(range(num_shards + 1))  # probe + shards
    assert [line["job"] for line in lines][-1] == 0, "the reduce runs after its shards"
    assert all(line["status"] == "completed" for line in lines)
    assert not (run_dir / "probes" / "shards").exists(), "parts go once reduced"
    sharded = read_results(run_dir, probe)
    assert len(sharded) == len(unsharded)
    assert np.allclose(sharded.value, unsharded.value, equal_nan=True, rtol=1e-4, atol=1e-6)

    relaunch = probe_cli(*args, cwd=tmp_path)  # done with these settings: no job runs
    assert relaunch.returncode == 0, relaunch.stderr
    last = index.read(sweep)[len(lines) :]
    assert [(line["job"], line["skipped"]) for line in last] == [(0, True)]
