"""Sweeps on one machine: presets, run directory names, the local launcher, relaunch, the index."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY, make_cfg, run_cli
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from deep_pg.cli import CONF_DIR
from deep_pg.runtime.preemption import Requeued, checkpoint_before_requeue
from deep_pg.sweep import index
from deep_pg.sweep.presets import combine_sweep_presets
from deep_pg.tracking.run_store import RunStore
from deep_pg.trainer import Trainer

# Two iterations of 256 steps: the smallest run that still updates and resumes.
TWO_ITERS = [o for o in TINY if not o.startswith("total_steps=")] + ["total_steps=512"]
TINY_DIR = (
    "algo.epochs=2/algo.num_minibatches=4/algo.steps_per_iter=256/algo.value_epochs=2/"
    "total_steps=512"
)


def hydra_cfg(*overrides: str):
    """The composed config with Hydra's own node (sweeper params, sweep subdir)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def sweep_params(*overrides: str) -> dict:
    return OmegaConf.to_container(hydra_cfg(*overrides).hydra.sweeper.params, resolve=True)


# --- presets ------------------------------------------------------------------------------------
def test_ablation16_sweeps_the_four_toggles():
    assert sweep_params("+sweep=ablation16") == {
        "opt.lr_anneal": "true,false",
        "opt.reward_scaling": "returns,none",
        "opt.ortho_init": "true,false",
        "opt.value_clip": "true,false",
    }


def test_seeds_preset_gives_three_seeds():
    assert sweep_params("+sweep=seeds") == {"seed": "0,1,2"}


@pytest.mark.parametrize("env", ["hopper", "walker2d", "halfcheetah", "humanoid", "pendulum"])
def test_lr_grid_is_the_env_grid_from_config_and_holds_the_tuned_lr(env):
    grid = yaml.safe_load((Path(CONF_DIR) / "sweep/grids/policy_lr.yaml").read_text())[env]
    swept = sweep_params("+sweep=lr_grid", f"env={env}")["algo.policy_lr"]
    assert [float(v) for v in swept.split(",")] == [float(v) for v in grid]
    assert make_cfg(f"env={env}").algo.policy_lr in [float(v) for v in grid]


def test_sample_regime_crosses_the_lr_grid_with_steps_per_iteration():
    params = sweep_params("+sweep=sample_regime", "env=hopper")
    assert (
        params["algo.policy_lr"] == sweep_params("+sweep=lr_grid", "env=hopper")["algo.policy_lr"]
    )
    assert params["algo.steps_per_iter"] == "512,2048,8192,32768"


def test_presets_combine_in_both_spellings():
    assert combine_sweep_presets(["-m", "+sweep=ablation16", "env=hopper", "+sweep=lr_grid"]) == [
        "-m",
        "+sweep=[ablation16,lr_grid]",
        "env=hopper",
    ]
    assert combine_sweep_presets(["+sweep=[a,b]", "+sweep=c"]) == ["+sweep=[a,b,c]"]
    assert combine_sweep_presets(["+sweep=seeds", "seed=1"]) == ["+sweep=seeds", "seed=1"]
    params = sweep_params("+sweep=[ablation16,lr_grid,seeds]", "env=walker2d")
    assert set(params) == {
        "opt.lr_anneal",
        "opt.reward_scaling",
        "opt.ortho_init",
        "opt.value_clip",
        "algo.policy_lr",
        "seed",
    }


def test_unknown_preset_fails_listing_the_presets(tmp_path):
    proc = run_cli(
        "-m", "+sweep=ablation17", f"hydra.sweep.dir={tmp_path / 's'}", cwd=tmp_path, check=False
    )
    assert proc.returncode == 2
    assert "deep-pg: error: invalid value for 'sweep': 'ablation17'" in proc.stderr
    for name in ("ablation16", "lr_grid", "sample_regime", "seeds"):
        assert name in proc.stderr
    assert not (tmp_path / "s").exists()


# --- run directory names ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, subdir",
    [
        (
            ["env=hopper", "opt.reward_scaling=none", "seed=2"],
            "ppo/hopper/opt=1011/lr=4.5e-4/seed=2",
        ),
        (["algo=ppo_m", "env=humanoid"], "ppo_m/humanoid/opt=0000/lr=9e-5/seed=0"),
        (["algo=trpo", "env=walker2d", "seed=1"], "trpo/walker2d/opt=0000/max_kl=0.04/seed=1"),
        (
            [
                "env=hopper",
                "algo.policy_lr=3e-4",
                "algo.steps_per_iter=512",
                "logger.mode=disabled",
                "checkpoint.every=5",
            ],
            "ppo/hopper/opt=1111/lr=3e-4/algo.steps_per_iter=512/seed=0",
        ),
    ],
)
def test_run_subdir_names_what_the_run_computes(overrides, subdir):
    assert hydra_cfg(*overrides).hydra.sweep.subdir == subdir


# --- the local launcher, end to end -------------------------------------------------------------
def read_index_by_job(sweep_dir: Path) -> dict[int, dict]:
    """The last line per job: a relaunch appends, the latest line is the job's state."""
    return {line["job"]: line for line in index.read(sweep_dir)}


def test_local_sweep_runs_in_parallel_isolates_a_failure_and_relaunches(tmp_path):
    sweep_dir = tmp_path / "sweep"
    # Two jobs in parallel: one completes, the other has an invalid clip epsilon and fails alone.
    args = [
        "-m",
        *TWO_ITERS,
        "algo.clip_eps=0.2,-1",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    proc = run_cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode != 0, "a failed job must make the launch fail"
    assert "1 of 2 jobs failed" in proc.stderr
    good = sweep_dir / f"ppo/pendulum/opt=1111/lr=1e-3/algo.clip_eps=0.2/{TINY_DIR}/seed=0"
    bad = sweep_dir / f"ppo/pendulum/opt=1111/lr=1e-3/algo.clip_eps=-1/{TINY_DIR}/seed=0"
    summary = json.loads((good / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == 2
    assert not bad.exists(), "a run rejected as bad input leaves no run directory"
    lines = read_index_by_job(sweep_dir)
    assert lines[0]["status"] == "completed" and lines[0]["run_dir"] == str(good)
    assert lines[1]["status"] == "failed" and "clip_eps" in lines[1]["reason"]
    assert "algo.clip_eps=-1" in lines[1]["overrides"]

    # Relaunch (the good job's part of the sweep): the finished run is skipped without starting a
    # process; a run whose summary is gone (stopped after its last checkpoint) resumes from that
    # checkpoint, not from scratch.
    relaunch = [a.replace("algo.clip_eps=0.2,-1", "algo.clip_eps=0.2") for a in args]
    metrics_before = (good / "metrics.jsonl").read_text()
    run_cli(*relaunch, cwd=tmp_path)
    assert read_index_by_job(sweep_dir)[0]["skipped"] is True
    (good / "summary.json").unlink()
    run_cli(*relaunch, cwd=tmp_path)
    line = read_index_by_job(sweep_dir)[0]
    assert line["status"] == "completed" and line["skipped"] is False
    assert (good / "metrics.jsonl").read_text() == metrics_before
    assert "resumed from" in (sweep_dir / ".local_launcher" / "0.out").read_text()


def test_relaunch_after_a_config_edit_does_not_skip_the_stale_run(tmp_path, monkeypatch):
    """Editing conf/ (here the tuned value LR) keeps the run directory name, but the completed
    run there was trained with the old value: it must be reported, not passed off as done."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    monkeypatch.setenv("DEEP_PG_CONF", str(conf))
    sweep_dir = tmp_path / "sweep"
    args = ["-m", *TWO_ITERS, f"hydra.sweep.dir={sweep_dir}"]
    run_cli(*args, cwd=tmp_path)
    tuned = conf / "tuned" / "ppo_pendulum.yaml"
    tuned.write_text(tuned.read_text().replace("value_lr: 1.0e-3", "value_lr: 5.0e-4"))
    proc = run_cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    line = read_index_by_job(sweep_dir)[0]
    assert line["status"] == "failed" and line["skipped"] is False
    assert "another config" in line["reason"] and "algo.value_lr" in line["reason"]


def test_env_dependent_grid_with_two_envs_is_refused_before_running(tmp_path):
    proc = run_cli(
        "-m",
        *TWO_ITERS,
        "+sweep=lr_grid",
        "env=pendulum,hopper",
        f"hydra.sweep.dir={tmp_path / 's'}",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("deep-pg: error: job ") and "one launch per env" in proc.stderr
    assert not list((tmp_path / "s").rglob("metrics.jsonl"))


def test_jobs_that_would_share_a_run_directory_are_refused(tmp_path):
    proc = run_cli(
        "-m",
        *TWO_ITERS,
        "checkpoint.every=1,2",
        f"hydra.sweep.dir={tmp_path / 's'}",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2 and "would share the run directory" in proc.stderr


def test_bad_local_launcher_option_is_one_line(tmp_path):
    proc = run_cli(
        "-m",
        *TWO_ITERS,
        "hydra.launcher.n_jobs=0",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "deep-pg: error: invalid value for 'hydra.launcher.n_jobs': 0 (allowed: a positive "
        "number of parallel jobs, or null for one per core)"
    ]


# --- the index under concurrent appends ---------------------------------------------------------
def _append_many(sweep_dir: str, worker: int) -> None:
    for i in range(200):
        index.append(Path(sweep_dir), {"job": worker, "i": i, "pad": "x" * (worker * 700)})


def test_index_lines_from_concurrent_jobs_never_interleave(tmp_path):
    procs = [
        multiprocessing.get_context("fork").Process(target=_append_many, args=(str(tmp_path), w))
        for w in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    lines = index.read(tmp_path)  # json.loads of every line: a torn line would raise
    assert len(lines) == 800
    for w in range(4):
        assert [x["i"] for x in lines if x["job"] == w] == list(range(200))


# --- preemption: the requeue signal is handled between iterations ------------------------------
def test_requeue_signal_checkpoints_after_the_iteration_then_requeues(tmp_path):
    """A stand-in for submitit's handler records the call; the real path runs in test_slurm."""
    calls = []

    def submitit_like_handler(signum, frame):
        calls.append(signum)
        raise SystemExit(-1)

    previous = signal.signal(signal.SIGUSR2, submitit_like_handler)
    try:
        trainer = Trainer([make_cfg(*TINY), make_cfg(*TINY, "seed=1")], [tmp_path, tmp_path / "b"])
        checkpoint_before_requeue(trainer)
        trainer.train_iteration()
        os.kill(os.getpid(), signal.SIGUSR2)  # arrives mid-run: only noted
        assert calls == [] and not (tmp_path / "checkpoints/last.pt").exists()
        with pytest.raises(Requeued):
            for hook in trainer.iteration_hooks:
                hook(trainer)
        assert calls == [signal.SIGUSR2]
        assert (tmp_path / "b/checkpoints/last.pt").exists()  # every member of the pack saved
        trainer.close()
        resumed = Trainer([make_cfg(*TINY)], [tmp_path])
        assert resumed.resume_if_possible() == [True] and resumed.iteration == 1
        resumed.close()
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_without_a_requeue_handler_nothing_is_installed(tmp_path):
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
    trainer = Trainer([make_cfg(*TINY)], [tmp_path])
    hooks = len(trainer.iteration_hooks)
    checkpoint_before_requeue(trainer)
    assert len(trainer.iteration_hooks) == hooks
    assert RunStore(tmp_path).read_metrics() == []


# --- packed runs: hydra.launcher.pack ------------------------------------------------------------
def hydra_files(run_dir: Path, sweep_dir: Path) -> dict[str, object]:
    """A run's .hydra/ files as data, less what names its sweep and launch rather than the run:
    the sweep directory (the output dir relative to it instead), the launcher's pack size and
    job id, and the command line's hydra.* overrides that set those two."""
    files = {f: yaml.safe_load((run_dir / ".hydra" / f).read_text()) for f in HYDRA_FILES}
    h = files["hydra.yaml"]["hydra"]
    assert Path(h["runtime"]["output_dir"]) == run_dir.resolve()
    h["runtime"]["output_dir"] = str(run_dir.resolve().relative_to(sweep_dir.resolve()))
    for node, key in (("sweep", "dir"), ("launcher", "pack"), ("job", "id")):
        assert h[node].pop(key) is not None, f"{node}.{key}"
    h["overrides"]["hydra"] = [
        o for o in h["overrides"]["hydra"] if o.split("=")[0] not in LAUNCH_OVERRIDES
    ]
    return files


HYDRA_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml")
LAUNCH_OVERRIDES = ("hydra.sweep.dir", "hydra.launcher.pack")


def test_packed_sweep_matches_the_unpacked_one_and_resumes_after_a_kill(tmp_path):
    """Four runs (two seeds x two learning rates) as one pack: each run directory holds what the
    unpacked sweep's does: .hydra/ files equal to those Hydra's job runner wrote for the unpacked
    jobs (the pack writes them itself; ``hydra_files`` says what may differ) and metrics equal
    within 1e-4; a pack killed mid-run and relaunched resumes every member to the same metrics
    as the uninterrupted pack."""
    import subprocess
    import sys
    import time

    args = [
        "-m",
        *TINY,
        "total_steps=2048",
        "checkpoint.every=2",
        "seed=0,1",
        "algo.policy_lr=1e-3,3e-4",
    ]
    run_cli(*args, "hydra.sweep.dir=unpacked", cwd=tmp_path)
    run_cli(*args, "hydra.launcher.pack=4", "hydra.sweep.dir=packed", cwd=tmp_path)
    packed_out = (tmp_path / "packed/.local_launcher/pack_0.out").read_text()
    assert "pack of 4 runs in one process" in packed_out
    proc = subprocess.Popen(
        [sys.executable, "-m", "deep_pg", *args, "hydra.launcher.pack=4", "hydra.sweep.dir=killed"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and len(list((tmp_path / "killed").rglob("last.pt"))) < 4:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list((tmp_path / "killed").rglob("summary.json")), "finished before the kill"
    run_cli(*args, "hydra.launcher.pack=4", "hydra.sweep.dir=killed", cwd=tmp_path)
    runs = sorted(
        p.parent.relative_to(tmp_path / "unpacked")
        for p in (tmp_path / "unpacked").rglob("metrics.jsonl")
    )
    assert len(runs) == 4
    for run in runs:
        unpacked = hydra_files(tmp_path / "unpacked" / run, tmp_path / "unpacked")
        assert hydra_files(tmp_path / "packed" / run, tmp_path / "packed") == unpacked, run
        lines = {
            name: [
                json.loads(x)
                for x in (tmp_path / name / run / "metrics.jsonl").read_text().splitlines()
            ]
            for name in ("unpacked", "packed", "killed")
        }
        assert [r["iteration"] for r in lines["killed"]] == list(range(1, 9))
        for name in ("packed", "killed"):
            for got, want in zip(lines[name], lines["unpacked"]):
                assert got["value_loss"] == pytest.approx(want["value_loss"], rel=1e-4)
                assert got["return_mean"] == pytest.approx(want["return_mean"], rel=1e-4)
        strip = lambda rows: [
            {k: v for k, v in r.items() if k not in ("wall_time", "iter_time", "sps")} for r in rows
        ]
        assert strip(lines["killed"]) == strip(lines["packed"])
    index_lines = index.read(tmp_path / "killed")
    assert {e["run_dir"] for e in index_lines if e["status"] == "completed"} == {
        str(Path("killed") / run) for run in runs
    }


@pytest.mark.parametrize("pack", ["0", "-2", "1.5"])
def test_bad_pack_size_is_one_line(tmp_path, pack):
    proc = run_cli(
        "-m", *TINY, "seed=0,1", f"hydra.launcher.pack={pack}", cwd=tmp_path, check=False
    )
    assert proc.returncode != 0
    assert "invalid value for 'hydra.launcher.pack'" in proc.stderr


def test_the_sweeper_leaves_the_composition_check_to_launchers_that_compose_every_job():
    """hydra/sweeper=deep_pg: Hydra's validation pass composes every job; deep_pg's launchers
    compose each in their preflight anyway, so the pass is skipped for them only."""
    from hydra.types import HydraContext

    from hydra_plugins.deep_pg_launchers.local_launcher import LocalLauncher
    from hydra_plugins.deep_pg_launchers.slurm_launcher import SlurmLauncher
    from hydra_plugins.deep_pg_launchers.sweeper import DeepPgSweeper

    composed = []

    class Loader:
        def load_sweep_config(self, master_config, sweep_overrides):
            composed.append(sweep_overrides)

    sweeper = DeepPgSweeper(max_batch_size=None)
    sweeper.hydra_context = HydraContext(config_loader=Loader(), callbacks=None)  # type: ignore[arg-type]
    sweeper.config = OmegaConf.create({})
    batch = [["seed=0"], ["seed=1"]]
    assert LocalLauncher.composes_every_job and SlurmLauncher.composes_every_job
    sweeper.launcher = LocalLauncher()
    sweeper.validate_batch_is_legal(batch)
    assert composed == []
    sweeper.launcher = object()  # e.g. hydra/launcher=basic
    sweeper.validate_batch_is_legal(batch)
    assert composed == batch
    assert hydra_cfg().hydra.sweeper._target_.endswith("DeepPgSweeper")
