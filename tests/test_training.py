"""End-to-end training: the run store contract, determinism, exact resume and failure handling."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY, make_cfg, run_cli, start_and_kill

from deep_pg.checkpoint import CheckpointCadence
from deep_pg.probes.schedule import ProbeSchedule
from deep_pg.run import run_training
from deep_pg.tracking.progress import Progress
from deep_pg.tracking.run_store import RunStore
from deep_pg.trainer import Trainer

TIME_FIELDS = {"wall_time", "iter_time", "sps"}
METRIC_FIELDS = {
    "iteration",
    "env_steps",
    "wall_time",
    "return_mean",
    "return_std",
    "return_count",
    "episode_length",
    "policy_loss",
    "value_loss",
    "entropy",
    "policy_lr",
    "value_lr",
    "mean_kl",
    "max_ratio",
    "clip_frac",
    "explained_var",
    "sps",
}


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIME_FIELDS} for row in rows]


@pytest.mark.parametrize("algo", ["ppo", "ppo_m", "ppo_noclip", "pg", "trpo", "trpo_plus"])
def test_each_algorithm_trains_and_writes_the_run_store(tmp_path, algo):
    run_training(make_cfg(*TINY, f"algo={algo}"), run_dir=tmp_path)
    rows = metrics(tmp_path)
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    assert [r["env_steps"] for r in rows] == [256, 512, 768, 1024]
    missing = METRIC_FIELDS - set(rows[0]) - ({"policy_lr"} if algo.startswith("trpo") else set())
    assert not missing
    assert any(r["return_count"] > 0 for r in rows)  # Pendulum episodes are 200 steps
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations"] == 4
    finished = [r["return_mean"] for r in rows if r["return_mean"] is not None]
    assert summary["final_return"] == pytest.approx(sum(finished) / len(finished))
    state = torch.load(tmp_path / "checkpoints/last.pt", weights_only=False)
    assert state["counters"]["iteration"] == 4
    assert {"agent", "obs_normalizer", "reward_scaler", "env", "rng"} <= set(state)


def test_same_seed_same_metrics_and_other_seed_differs(tmp_path):
    run_training(make_cfg(*TINY, "seed=7"), run_dir=tmp_path / "a")
    run_training(make_cfg(*TINY, "seed=7"), run_dir=tmp_path / "b")
    run_training(make_cfg(*TINY, "seed=8"), run_dir=tmp_path / "c")
    a, b, c = (without_time(metrics(tmp_path / d)) for d in "abc")
    assert a == b
    assert a != c


def test_completed_run_is_not_trained_again(tmp_path):
    cfg = make_cfg(*TINY)
    first = run_training(cfg, run_dir=tmp_path)
    size = (tmp_path / "metrics.jsonl").stat().st_size
    assert run_training(cfg, run_dir=tmp_path) == first
    assert (tmp_path / "metrics.jsonl").stat().st_size == size


def test_completed_run_with_another_config_is_an_error_not_a_skip(tmp_path):
    run_cli(*TINY, "hydra.run.dir=run", cwd=tmp_path)
    proc = run_cli(*TINY, "algo.value_lr=0.5", "hydra.run.dir=run", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "completed run with another config" in proc.stderr and "algo.value_lr" in proc.stderr
    assert json.loads((tmp_path / "run/summary.json").read_text())["status"] == "completed"


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    """SIGKILL a real `deep-pg` process mid-run, start it again in the same directory."""
    args = [*TINY, "total_steps=5120", "checkpoint.every=3"]
    run_cli(*args, "hydra.run.dir=ref", cwd=tmp_path)
    run_dir = tmp_path / "run"
    start_and_kill(*args, "hydra.run.dir=run", cwd=tmp_path, run_dir=run_dir, after_iterations=4)
    assert len(metrics(run_dir)) < 20
    run_cli(*args, "hydra.run.dir=run", cwd=tmp_path)
    assert without_time(metrics(run_dir)) == without_time(metrics(tmp_path / "ref"))
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_run_killed_before_its_first_checkpoint_restarts_clean(tmp_path):
    """No checkpoint to resume from: the rerun starts over instead of appending to the metrics
    of the killed attempt (which would hold iterations 1, 2, 1, 2, 3, ...)."""
    args = [*TINY, "total_steps=5120", "checkpoint.every=1000", "checkpoint.every_minutes=60"]
    run_cli(*args, "hydra.run.dir=ref", cwd=tmp_path)
    run_dir = tmp_path / "run"
    start_and_kill(
        *args,
        "hydra.run.dir=run",
        cwd=tmp_path,
        run_dir=run_dir,
        after_iterations=2,
        need_checkpoint=False,
    )
    assert not (run_dir / "checkpoints/last.pt").exists() and len(metrics(run_dir)) >= 2
    proc = run_cli(*args, "hydra.run.dir=run", cwd=tmp_path)
    assert without_time(metrics(run_dir)) == without_time(metrics(tmp_path / "ref"))
    assert [r["iteration"] for r in metrics(run_dir)] == list(range(1, 21))
    assert len(re.findall("starting from scratch, removed metrics.jsonl", proc.stdout)) == 1


def test_fresh_start_removes_what_a_failed_attempt_left(tmp_path, caplog):
    for name, text in [
        ("metrics.jsonl", '{"iteration": 7}\n'),
        ("wandb_run_id", "old"),
        ("summary.json", '{"status": "failed", "reason": "x"}'),
        ("probes/gradient.parquet", "stale"),
        ("checkpoints/iter_0.pt", "stale"),
    ]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    with caplog.at_level(logging.INFO, logger="deep_pg"):
        run_training(make_cfg(*TINY), run_dir=tmp_path)
    assert [r["iteration"] for r in metrics(tmp_path)] == [1, 2, 3, 4]
    assert not (tmp_path / "probes").exists() and not (tmp_path / "wandb_run_id").exists()
    assert not (tmp_path / "checkpoints/iter_0.pt").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "completed"
    cleans = [r.getMessage() for r in caplog.records if "starting from scratch" in r.getMessage()]
    assert len(cleans) == 1 and "probes" in cleans[0] and "summary.json" in cleans[0]


def test_a_completed_run_is_never_cleared(tmp_path):
    run_training(make_cfg(*TINY), run_dir=tmp_path)
    with pytest.raises(RuntimeError, match="completed"):
        RunStore(tmp_path).clear_partial_run()
    assert len(metrics(tmp_path)) == 4


def test_checkpoint_cadence_counts_iterations_minutes_and_probe_iterations():
    now = [0.0]
    cadence = CheckpointCadence(every=10, every_minutes=1.0, also_at=[3], clock=lambda: now[0])
    due = []
    for iteration in range(1, 25):
        now[0] += 7.0  # seconds per iteration: 60 s pass after 9 iterations
        if cadence.due(iteration):
            due.append(iteration)
            cadence.written()
    assert due == [3, 10, 19, 20]


def test_last_checkpoint_is_written_at_the_cadence_probe_iterations_and_the_end(
    tmp_path, monkeypatch
):
    saved = []
    original = Trainer.save_checkpoint

    def recording(self, name="checkpoints/last.pt", members=None):
        saved.append((name, self.iteration))
        return original(self, name, members)

    monkeypatch.setattr(Trainer, "save_checkpoint", recording)
    run_training(
        make_cfg(
            *TINY,
            "total_steps=2560",
            "checkpoint.every=4",
            "checkpoint.every_minutes=60",
            "probe.iterations=[3]",
        ),
        run_dir=tmp_path,
    )
    assert [i for name, i in saved if name.endswith("last.pt")] == [3, 4, 8, 10]


def test_after_an_iteration_its_metrics_then_probes_then_the_requeue_check_then_last_pt(
    tmp_path, monkeypatch
):
    """Probes see an iteration already recorded; the job leaves (requeue) only with them done;
    last.pt at a probe iteration comes after its probes."""
    events = []

    def recording(cls, method, event):
        original = getattr(cls, method)

        def record(self, *args, **kwargs):
            events.append(event(self, *args, **kwargs))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, record)

    recording(RunStore, "append_metrics", lambda self, row: ("metrics", row["iteration"]))
    recording(ProbeSchedule, "__call__", lambda self, view: ("probes", view.iteration))
    recording(
        Trainer,
        "save_checkpoint",
        lambda self, name="checkpoints/last.pt", members=None: (name, self.iteration),
    )
    monkeypatch.setattr(  # a requeue check in place of the one a Slurm job installs
        "deep_pg.run.checkpoint_before_requeue",
        lambda trainer: trainer.iteration_hooks.append(
            lambda t: events.append(("requeue check", t.iteration))
        ),
    )
    run_training(
        make_cfg(
            *TINY, "probe.iterations=[2]", "checkpoint.every=2", "checkpoint.every_minutes=60"
        ),
        run_dir=tmp_path,
    )
    assert [e for e, i in events if i == 2] == [
        "metrics",
        "probes",
        "checkpoints/iter_2.pt",
        "requeue check",
        "checkpoints/last.pt",
    ]


def test_non_finite_parameters_fail_the_run_and_keep_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    original = Trainer.train_iteration

    def poisoned(self):  # the third update blows up
        if self.iteration == 2:
            with torch.no_grad():
                self.agent.value.net.weights[0].fill_(float("nan"))
        return original(self)

    monkeypatch.setattr(Trainer, "train_iteration", poisoned)
    with pytest.raises(SystemExit) as exit_info:
        run_training(make_cfg(*TINY, "checkpoint.every=1", "total_steps=2048"), run_dir=tmp_path)
    assert exit_info.value.code == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "non-finite" in summary["reason"]
    state = torch.load(tmp_path / "checkpoints/last.pt", weights_only=False)
    assert state["counters"]["iteration"] == 2
    assert all(torch.isfinite(t).all() for t in state["agent"]["value"].values())


def test_crash_keeps_its_traceback_the_run_dir_and_the_last_checkpoint(
    tmp_path, monkeypatch, capsys
):
    original = Trainer.train_iteration

    def faulty(self):  # an injected bug in the third iteration
        if self.iteration == 2:
            raise RuntimeError("injected fault\nsecond line")
        return original(self)

    monkeypatch.setattr(Trainer, "train_iteration", faulty)
    log_file = logging.FileHandler(tmp_path / "deep_pg.log")  # as Hydra's job logging adds one
    logging.getLogger().addHandler(log_file)
    try:
        with pytest.raises(SystemExit) as exit_info:
            run_training(make_cfg(*TINY, "checkpoint.every=1"), run_dir=tmp_path / "run")
    finally:
        logging.getLogger().removeHandler(log_file)
        log_file.close()
    assert exit_info.value.code == 1
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["status"] == "failed" and summary["reason"] == "RuntimeError: injected fault"
    assert (
        torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=False)["counters"][
            "iteration"
        ]
        == 2
    )
    stderr, logged = capsys.readouterr().err, (tmp_path / "deep_pg.log").read_text()
    for text in (stderr, logged):
        assert "Traceback (most recent call last)" in text and "in faulty" in text
        assert "RuntimeError: injected fault" in text


def test_unexpected_error_building_the_trainer_is_a_crash_not_bad_input(
    tmp_path, monkeypatch, capsys
):
    def faulty_init(self, cfgs, run_dirs, workers=None):
        raise ValueError("injected fault")

    monkeypatch.setattr(Trainer, "__init__", faulty_init)
    with pytest.raises(SystemExit) as exit_info:
        run_training(make_cfg(*TINY), run_dir=tmp_path / "run")
    assert exit_info.value.code == 1  # bad input would be 2, and would remove the run dir
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["status"] == "failed" and summary["reason"] == "ValueError: injected fault"
    stderr = capsys.readouterr().err
    assert "Traceback" in stderr and "deep-pg: error" not in stderr


def test_corrupt_checkpoint_is_one_clear_error(tmp_path):
    run_cli(*TINY, "hydra.run.dir=run", cwd=tmp_path)
    (tmp_path / "run/summary.json").unlink()
    (tmp_path / "run/checkpoints/last.pt").write_bytes(b"not a checkpoint")
    proc = run_cli(*TINY, "hydra.run.dir=run", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "deep-pg: error: cannot read checkpoint" in proc.stderr
    assert (tmp_path / "run/metrics.jsonl").exists()  # the user's data is left alone
    assert not (tmp_path / "run/summary.json").exists()


def test_mismatched_checkpoint_names_the_key(tmp_path):
    run_cli(*TINY, "hydra.run.dir=run", cwd=tmp_path)
    (tmp_path / "run/summary.json").unlink()
    proc = run_cli(*TINY, "seed=5", "hydra.run.dir=run", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "seed=0" in proc.stderr and "seed=5" in proc.stderr


def progress_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if "iteration" in line and "sps" in line]


def test_plain_progress_lines_when_not_a_terminal(tmp_path):
    proc = run_cli(*TINY, "logger.log_every=2", "hydra.run.dir=run", cwd=tmp_path)
    lines = progress_lines(proc.stdout)
    assert len(lines) == 2 and "iteration 4/4" in lines[-1]
    assert "deep-pg: run directory" in proc.stdout


def test_plain_progress_lines_also_come_every_few_seconds(tmp_path):
    slow = run_cli(
        *TINY,
        "logger.log_every=100",
        "logger.log_every_seconds=1e-6",
        "hydra.run.dir=a",
        cwd=tmp_path,
    )
    assert [line.split("iteration ")[1][:3] for line in progress_lines(slow.stdout)] == [
        "1/4",
        "2/4",
        "3/4",
        "4/4",
    ]
    rare = run_cli(*TINY, "logger.log_every=100", "hydra.run.dir=b", cwd=tmp_path)
    assert len(progress_lines(rare.stdout)) == 1  # the last iteration only


def test_progress_line_after_log_every_seconds_without_waiting_for_log_every(caplog):
    now = [0.0]
    progress = Progress(100, 0, log_every=10, log_every_seconds=30.0, clock=lambda: now[0])
    row = {"env_steps": 0, "return_mean": 12.345678, "sps": 1.0, "mean_kl": 0.0}
    with caplog.at_level(logging.INFO, logger="deep_pg"):
        for iteration in range(1, 17):
            now[0] += 7.0  # 30 s pass at iterations 5 and 15
            progress.update({**row, "iteration": iteration})
    logged = [r.getMessage() for r in caplog.records]
    assert [m.split("/")[0] for m in logged] == ["iteration 5", "iteration 10", "iteration 15"]
    assert "return 12.3 |" in logged[0]


@pytest.mark.parametrize("columns, bar", [(0, False), (120, True)])
def test_a_live_bar_only_on_a_terminal_with_a_width(monkeypatch, columns, bar):
    """A terminal of zero columns would show the bar as an empty line: plain lines instead."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=0: os.terminal_size((columns, 40)))
    progress = Progress(4, 0, log_every=1, log_every_seconds=30.0)
    try:
        assert (progress.bar is not None) is bar
    finally:
        progress.close()


def test_summary_and_log_lines_state_what_was_computed(tmp_path):
    proc = run_cli(*TINY, "total_steps=256", "hydra.run.dir=one", cwd=tmp_path)
    assert "for 1 iteration;" in proc.stdout
    summary = json.loads((tmp_path / "one/summary.json").read_text())
    assert summary["final_return_definition"].startswith("mean return of the last 1 iteration ")
    done = next(line for line in proc.stdout.splitlines() if "done: final return" in line)
    assert re.search(r"final return -?\d+\.\d after 256 env steps", done), done
    run_training(make_cfg(*TINY, "total_steps=1280"), run_dir=tmp_path / "five")
    summary = json.loads((tmp_path / "five/summary.json").read_text())
    assert summary["final_return_definition"].startswith("mean return of the last 5 iterations")


def test_resumed_run_logs_to_the_same_wandb_run(tmp_path, monkeypatch):
    """A killed and restarted run appends to the same wandb run id (offline: `wandb sync` of the
    run's offline directories stitches them into one run)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    args = [
        *[a for a in TINY if not a.startswith("logger")],
        "total_steps=5120",
        "checkpoint.every=2",
        "hydra.run.dir=run",
    ]
    run_dir = tmp_path / "run"
    start_and_kill(*args, cwd=tmp_path, run_dir=run_dir, after_iterations=3)
    run_cli(*args, cwd=tmp_path)
    run_id = (run_dir / "wandb_run_id").read_text()
    attempts = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(attempts) == 2 and all(p.name.endswith(f"-{run_id}") for p in attempts)


def test_wandb_offline_writes_a_local_run_and_failure_does_not_stop_training(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "WANDB_API_KEY": ""}
    env.pop("WANDB_API_KEY")
    base = [sys.executable, "-m", "deep_pg", *[a for a in TINY if not a.startswith("logger")]]
    offline = subprocess.run(
        [*base, "hydra.run.dir=off"],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert offline.returncode == 0, offline.stderr
    runs = list((tmp_path / "off/wandb").glob("offline-run-*"))
    assert len(runs) == 1 and (tmp_path / "off/wandb_run_id").read_text() in runs[0].name
    assert "wandb could not" not in offline.stdout + offline.stderr
    # online without credentials: wandb cannot start, the run goes on and says so once
    online = subprocess.run(
        [*base, "logger.mode=online", "hydra.run.dir=on"],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert online.returncode == 0, online.stderr
    assert (online.stdout + online.stderr).count("wandb could not") == 1
    assert json.loads((tmp_path / "on/summary.json").read_text())["status"] == "completed"


class RecordingRun:
    """Stands in for the object wandb.init returns and records what the logger asks of it."""

    def __init__(self):
        self.calls = []
        self.summary = {}

    def define_metric(self, name, **kwargs):
        self.calls.append(("define_metric", name, kwargs))

    def log(self, row, step):
        self.calls.append(("log", row, step))

    def finish(self, exit_code=0):
        self.calls.append(("finish", exit_code))


def test_wandb_plots_every_metric_against_env_steps(tmp_path, monkeypatch):
    import wandb

    run = RecordingRun()
    monkeypatch.setattr(wandb, "init", lambda **kwargs: run)
    cfg = make_cfg(*[a for a in TINY if not a.startswith("logger")], "logger.mode=offline")
    run_training(cfg, run_dir=tmp_path)
    defined = [c[1:] for c in run.calls if c[0] == "define_metric"]
    assert defined == [("env_steps", {}), ("*", {"step_metric": "env_steps"})]
    first_log = next(i for i, c in enumerate(run.calls) if c[0] == "log")
    assert first_log > max(i for i, c in enumerate(run.calls) if c[0] == "define_metric")
    assert [c[1]["env_steps"] for c in run.calls if c[0] == "log"] == [256, 512, 768, 1024]
