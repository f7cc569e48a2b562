"""Sweeps on a real Slurm cluster: launchers/slurm-local.sh brings up slurmctld, slurmd, slurmdbd
(MariaDB) and munge on this machine; jobs go through hydra/launcher=slurm and submitit.

Needs root and apt (or a cluster already up); elsewhere the module is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import PROBE, REPO, TINY, make_cfg, read_results, run_cli

from deep_pg.identity import ABLATION_TOGGLES
from deep_pg.run import run_pack, run_training
from deep_pg.sweep import index
from deep_pg.tracking.run_store import RunStore

pytestmark = pytest.mark.slurm  # the quick run: python -m pytest -q -m "not slurm"

SCRIPT = REPO / "launchers" / "slurm-local.sh"
TWO_ITERS = [o for o in TINY if not o.startswith("total_steps=")] + ["total_steps=512"]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10"]
# Long enough (16 iterations of 1024 steps) to be interrupted mid-run.
LONG = [
    "env=pendulum",
    "total_steps=16384",
    "algo.steps_per_iter=1024",
    "algo.num_minibatches=4",
    "algo.epochs=4",
    "algo.value_epochs=4",
    "logger.mode=disabled",
    "checkpoint.every=1000",
]
# A pack of two, each member sampled in its own worker, trains faster than one run: twice as many
# iterations, so that it is still running when the signal comes.
LONG_PACK = [o for o in LONG if not o.startswith("total_steps=")] + ["total_steps=32768"]
NOT_REPRODUCIBLE = ("sps",)  # and every key with "time" in it: wall-clock measurements


def script(command: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def cluster():
    """The local cluster, brought up for these tests and torn down after them whatever happens
    (a cluster that was already up is left as it was)."""
    if script("status", 60).returncode == 0:
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("the local Slurm cluster needs root (launchers/slurm-local.sh up)")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("the local Slurm cluster needs apt-get to install Debian's Slurm packages")
    try:
        up = script("up", 900)
        if up.returncode != 0:
            pytest.fail(f"launchers/slurm-local.sh up failed:\n{up.stdout}\n{up.stderr}")
        yield
    finally:
        down = script("down", 120)
        assert down.returncode == 0, down.stderr


def wait_until(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def start_sweep(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "deep_pg", "-m", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def queued_job(name: str) -> str:
    """The Slurm id of the one job with this name."""
    out = subprocess.run(
        ["squeue", "-h", f"--name={name}", "-o", "%i"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(out) == 1, out
    return out[0]


def metric_lines(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def reproducible(rows: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in row.items() if "time" not in k and k not in NOT_REPRODUCIBLE}
        for row in rows
    ]


def ablation16_lines(sweep_dir: Path) -> list[dict]:
    """Checks the 16 run directories of a +sweep=ablation16 sweep (each completed, with its own
    toggles) and the index line of each; returns the lines."""
    run_dirs = sorted(p.parent for p in sweep_dir.rglob("summary.json"))
    assert len(run_dirs) == 16
    bits_seen = set()
    for run_dir in run_dirs:
        bits = re.search(r"/opt=([01]{4})/", str(run_dir)).group(1)
        bits_seen.add(bits)
        config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
        on = {"returns": True, "none": False}  # reward_scaling is a mode; the others are booleans
        assert [on.get(config["opt"][t], config["opt"][t]) for t in ABLATION_TOGGLES] == [
            b == "1" for b in bits
        ]
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
        assert len(RunStore(run_dir).read_metrics()) == 2
    assert len(bits_seen) == 16
    lines = index.read(sweep_dir)
    assert len(lines) == 16 and {line["status"] for line in lines} == {"completed"}
    assert sorted(Path(line["run_dir"]) for line in lines) == run_dirs
    return lines


def test_ablation16_sweep_on_slurm(cluster, tmp_path):
    sweep_dir = tmp_path / "ablation"
    proc = run_cli(
        "-m", "+sweep=ablation16", *TWO_ITERS, *SLURM, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path
    )
    assert "all 16 jobs completed" in proc.stderr + proc.stdout
    lines = ablation16_lines(sweep_dir)
    assert all(re.fullmatch(r"\d+_\d+", line["launcher_job_id"]) for line in lines)
    assert len({line["launcher_job_id"] for line in lines}) == 16  # one array task per run


def test_ablation16_packed_runs_as_two_array_tasks(cluster, tmp_path):
    sweep_dir = tmp_path / "packed"
    sweep = [
        "-m",
        "+sweep=ablation16",
        *TWO_ITERS,
        *SLURM,
        "hydra.launcher.pack=8",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    proc = run_cli(*sweep, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert "16 jobs in 2 packs of up to 8 (sizes 8, 8)" in out
    assert "pack 0: jobs 0, 1, 2, 3, 4, 5, 6, 7\n" in out
    assert "pack 1: jobs 8, 9, 10, 11, 12, 13, 14, 15\n" in out
    lines = ablation16_lines(sweep_dir)
    tasks = {}
    for line in lines:
        tasks.setdefault(line["launcher_job_id"], set()).add(line["job"])
    [array] = {task.split("_")[0] for task in tasks}
    assert tasks == {f"{array}_0": set(range(8)), f"{array}_1": set(range(8, 16))}
    for line in lines:
        log = (Path(line["run_dir"]) / "deep_pg.log").read_text()
        assert "pack of 8 runs in one process" in log

    # Relaunched after three runs were lost: the 13 completed ones are skipped, not resubmitted,
    # and the three others make one pack.
    lost = sorted(Path(line["run_dir"]) for line in lines if line["job"] in (2, 9, 14))
    for run_dir in lost:
        shutil.rmtree(run_dir)
    proc = run_cli(*sweep, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert "13 of 16 runs already completed" in out
    assert "3 jobs in 1 pack of up to 8 (sizes 3)" in out and "pack 0: jobs 2, 9, 14\n" in out
    relaunch = index.read(sweep_dir)[16:]
    assert sorted(line["job"] for line in relaunch if line["skipped"]) == sorted(
        set(range(16)) - {2, 9, 14}
    )
    rerun = [line for line in relaunch if not line["skipped"]]
    assert sorted(Path(line["run_dir"]) for line in rerun) == lost
    assert len({line["launcher_job_id"] for line in rerun}) == 1
    assert all(line["status"] == "completed" and line["iterations"] == 2 for line in rerun)


def test_requeued_job_resumes_to_the_same_metrics(cluster, tmp_path):
    sweep_dir = tmp_path / "requeue"
    name = f"deep_pg_requeue_{tmp_path.name}"
    sweep = start_sweep(
        *LONG,
        "seed=3",
        *SLURM,
        f"hydra.launcher.name={name}",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    try:
        run_dir = (
            sweep_dir
            / "ppo/pendulum/opt=1111/lr=1e-3"
            / (
                "algo.epochs=4/algo.num_minibatches=4/algo.steps_per_iter=1024/"
                "algo.value_epochs=4/total_steps=16384/seed=3"
            )
        )
        wait_until(lambda: metric_lines(run_dir) >= 2, 180, "the job to train two iterations")
        # What Slurm sends before a time limit (or a preemption): submitit's USR2.
        subprocess.run(["scancel", "--signal=USR2", queued_job(name)], check=True)
        out, err = sweep.communicate(timeout=240)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, err
    log = (run_dir / "deep_pg.log").read_text()
    saved = re.search(r"requeue signal received: saved \S+ at iteration (\d+)", log)
    resumed = re.search(r"resumed from \S+ at iteration (\d+)", log)
    assert saved and resumed, log
    assert 2 <= int(resumed.group(1)) == int(saved.group(1)) < 16
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == 16

    reference = tmp_path / "uninterrupted"
    run_training(make_cfg(*LONG, "seed=3"), run_dir=reference)
    assert reproducible(RunStore(run_dir).read_metrics()) == reproducible(
        RunStore(reference).read_metrics()
    )
    assert (
        summary["final_return"]
        == json.loads((reference / "summary.json").read_text())["final_return"]
    )
    [line] = index.read(sweep_dir)
    assert line["status"] == "completed" and line["final_return"] == summary["final_return"]


def test_requeued_pack_resumes_every_member_to_the_same_metrics(cluster, tmp_path):
    sweep_dir = tmp_path / "requeue_pack"
    name = f"deep_pg_requeue_pack_{tmp_path.name}"
    # Two cores: the pack's two members sample in two worker processes, which get the signal too.
    sweep = start_sweep(
        *LONG_PACK,
        "seed=3,5",
        *SLURM,
        "hydra.launcher.pack=2",
        "hydra.launcher.cpus_per_task=2",
        f"hydra.launcher.name={name}",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    try:
        run_dirs = [
            sweep_dir
            / "ppo/pendulum/opt=1111/lr=1e-3"
            / (
                "algo.epochs=4/algo.num_minibatches=4/algo.steps_per_iter=1024/"
                f"algo.value_epochs=4/total_steps=32768/seed={seed}"
            )
            for seed in (3, 5)
        ]
        wait_until(
            lambda: min(metric_lines(d) for d in run_dirs) >= 2,
            180,
            "the pack to train two iterations",
        )
        subprocess.run(["scancel", "--signal=USR2", queued_job(name)], check=True)
        out, err = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, err
    reference = [tmp_path / "uninterrupted" / str(seed) for seed in (3, 5)]
    run_pack([make_cfg(*LONG_PACK, f"seed={seed}") for seed in (3, 5)], reference)
    for run_dir, ref in zip(run_dirs, reference):
        log = (run_dir / "deep_pg.log").read_text()
        assert "pack of 2 runs in one process (2 sampling workers)" in log
        saved = re.search(
            rf"requeue signal received: saved {re.escape(str(run_dir))}/\S+ "
            r"at iteration (\d+)",
            log,
        )
        resumed = re.search(rf"resumed from {re.escape(str(run_dir))}/\S+ at iteration (\d+)", log)
        assert saved and resumed, log
        assert 2 <= int(resumed.group(1)) == int(saved.group(1)) < 32
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["iterations"] == 32
        assert reproducible(RunStore(run_dir).read_metrics()) == reproducible(
            RunStore(ref).read_metrics()
        )
        assert (
            summary["final_return"]
            == json.loads((ref / "summary.json").read_text())["final_return"]
        )
    lines = index.read(sweep_dir)
    assert sorted(Path(line["run_dir"]) for line in lines) == sorted(run_dirs)
    assert {line["status"] for line in lines} == {"completed"}


def test_killed_job_is_reported_failed_not_hung(cluster, tmp_path):
    sweep_dir = tmp_path / "killed"
    sweep = start_sweep(*LONG, "seed=4", *SLURM, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    try:
        wait_until(
            lambda: any(p.stat().st_size for p in sweep_dir.rglob("metrics.jsonl")),
            180,
            "the job to start training",
        )
        # The job's Python process, killed as the kernel's OOM killer would: no result written.
        marker = f"{sweep_dir}/.submitit"
        pids = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and marker in _cmdline(p) and "submitit.core._submit" in _cmdline(p)
        ]
        assert pids, "the job's process was not found"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        out, err = sweep.communicate(timeout=120)
    finally:
        sweep.kill()
    assert sweep.returncode != 0
    assert "1 of 1 jobs failed" in err and "without a result" in err
    [line] = index.read(sweep_dir)
    assert line["status"] == "failed" and "FAILED" in line["reason"]


def _cmdline(proc_dir: Path) -> str:
    try:
        return (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def probed_run(tmp_path_factory):
    """A tiny run whose training probed the gradient at iteration 0 (unsharded)."""
    run_dir = tmp_path_factory.mktemp("probed") / "run"
    run_training(make_cfg(*TINY, *PROBE, "probe=gradient", "probe.iterations=[0]"), run_dir)
    return run_dir


def probe_sweep(run_dir: Path, sweep_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """Job 0: the probe (the reduce); jobs 1-2: its two shards."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "deep_pg.probe_cli",
            "-m",
            f"run_dir={run_dir}",
            "checkpoint=0",
            "probe=gradient",
            *PROBE[1:],
            "probe.shards=2",
            "logger.mode=disabled",
            "force=true",
            *SLURM,
            f"hydra.sweep.dir={sweep_dir}",
            *args,
        ],
        cwd=sweep_dir.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )


def slurm_times(*job_ids: str, seconds: float = 60.0) -> dict[str, tuple[str, str, str]]:
    """State, start and end of each job, as Slurm's accounting has them once every job has
    ended there: the launcher gets a job's result as soon as the job wrote it, and on a busy
    node Slurm may still list that job as RUNNING for a few seconds."""

    def ended():
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-j", ",".join(job_ids), "-o", "jobid,state,start,end"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times = {row[0]: tuple(row[1:]) for row in (line.split("|") for line in out.splitlines())}
        active = [
            state for state, _, _ in times.values() if state in ("PENDING", "RUNNING", "COMPLETING")
        ]
        return None if active else times

    return wait_until(ended, seconds, f"Slurm accounting to show jobs {job_ids} ended")


def test_sharded_probe_reduces_after_its_shards_to_the_unsharded_table(
    cluster, probed_run, tmp_path
):
    unsharded = read_results(probed_run, "gradient")
    proc = probe_sweep(probed_run, tmp_path / "sweep")
    assert proc.returncode == 0, proc.stderr
    lines = {line["job"]: line for line in index.read(tmp_path / "sweep")}
    assert sorted(lines) == [0, 1, 2]
    assert {line["status"] for line in lines.values()} == {"completed"}
    shards = [lines[n]["launcher_job_id"] for n in (1, 2)]
    reduce = lines[0]["launcher_job_id"]
    assert len({job.split("_")[0] for job in shards}) == 1, "the shards are one array"
    assert reduce.split("_")[0] != shards[0].split("_")[0], "the reduce is a job of its own"
    assert f"probe job 0, afterok:{shards[0]}:{shards[1]}" in proc.stdout + proc.stderr
    times = slurm_times(reduce, *shards)
    assert all(times[job][0] == "COMPLETED" for job in (reduce, *shards)), times
    assert times[reduce][1] >= max(times[job][2] for job in shards), "it started after them"
    sharded = read_results(probed_run, "gradient")
    assert len(sharded) == len(unsharded)
    assert np.allclose(sharded.value, unsharded.value, equal_nan=True, rtol=1e-4, atol=1e-6)


def test_reduce_whose_shards_failed_is_cancelled_and_reported(cluster, probed_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(probed_run, run_dir)
    (run_dir / "probes" / "shards").write_text("")  # where the shards would write their parts
    proc = probe_sweep(run_dir, tmp_path / "sweep")
    assert proc.returncode != 0
    lines = {line["job"]: line for line in index.read(tmp_path / "sweep")}
    assert [lines[n]["status"] for n in (0, 1, 2)] == ["failed"] * 3
    reason = lines[0]["reason"]
    assert reason.startswith("its shards failed: shard job 1: ") and "; shard job 2: " in reason
    assert reason in proc.stdout + proc.stderr
    reduce = lines[0]["launcher_job_id"]
    state, start, _ = slurm_times(reduce)[reduce]
    assert state.startswith("CANCELLED") and start in ("None", "Unknown"), "it never ran"


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "hydra.launcher.partition=gpu",
            "invalid value for 'hydra.launcher.partition': 'gpu' "
            "(partitions on this cluster: debug)",
        ),
        (
            "+hydra.launcher.gpus=1",
            "'hydra.launcher.gpus' is not an option of hydra/launcher=slurm",
        ),
        (
            "+hydra.launcher.additional_parameters.no_such_option=1",
            "sbatch refused the job array of 2 jobs, nothing was submitted: "
            "sbatch: unrecognized option",
        ),
        (
            "hydra.launcher.pack=0",
            "invalid value for 'hydra.launcher.pack': 0 (allowed: a positive "
            "integer, the most runs trained together in one process; 1 = unpacked)",
        ),
        (
            "hydra.launcher.pack=-2",
            "invalid value for 'hydra.launcher.pack': -2 (allowed: a positive",
        ),
        ("hydra.launcher.pack=1.5", "invalid value for 'hydra.launcher.pack': 1.5 (allowed: a"),
        (
            "hydra.launcher.pack=2 hydra.launcher.cpus_per_task=4",
            "invalid value for 'hydra.launcher.cpus_per_task': 4 "
            "(allowed with hydra.launcher.pack=2: at most 2;",
        ),
    ],
)
def test_bad_slurm_input_stops_before_anything_is_queued(cluster, tmp_path, override, message):
    name = f"deep_pg_bad_{tmp_path.name}"
    proc = run_cli(
        "-m",
        *TWO_ITERS,
        "seed=0,1",
        *SLURM,
        f"hydra.launcher.name={name}",
        *override.split(),
        f"hydra.sweep.dir={tmp_path / 's'}",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert f"deep-pg: error: {message}" in proc.stderr
    queued = subprocess.run(
        ["sacct", "-n", "-X", f"--name={name}", "-o", "jobid"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert queued.stdout.strip() == ""
