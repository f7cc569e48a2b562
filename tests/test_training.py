"""End-to-end training: the run store contract, determinism, exact resume and failure handling."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import TINY, make_cfg, run_cli, start_and_kill
from deep_pg.run import run_training
from deep_pg.trainer import Trainer

TIME_FIELDS = {"wall_time", "iter_time", "sps"}
METRIC_FIELDS = {
    "iteration", "env_steps", "wall_time", "return_mean", "return_std", "return_count",
    "episode_length", "policy_loss", "value_loss", "entropy", "policy_lr", "value_lr", "mean_kl",
    "max_ratio", "clip_frac", "explained_var", "sps",
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


def test_non_finite_parameters_fail_the_run_and_keep_the_last_good_checkpoint(tmp_path, monkeypatch):
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


def test_plain_progress_lines_when_not_a_terminal(tmp_path):
    proc = run_cli(*TINY, "logger.log_every=2", "hydra.run.dir=run", cwd=tmp_path)
    lines = [line for line in proc.stdout.splitlines() if "iteration" in line and "sps" in line]
    assert len(lines) == 2 and "iteration 4/4" in lines[-1]
    assert "deep-pg: run directory" in proc.stdout


def test_resumed_run_logs_to_the_same_wandb_run(tmp_path, monkeypatch):
    """A killed and restarted run appends to the same wandb run id (offline: `wandb sync` of the
    run's offline directories stitches them into one run)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    args = [*[a for a in TINY if not a.startswith("logger")], "total_steps=5120",
            "checkpoint.every=2", "hydra.run.dir=run"]
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
    offline = subprocess.run([*base, "hydra.run.dir=off"], cwd=tmp_path, env=env, text=True,
                             capture_output=True, timeout=300)
    assert offline.returncode == 0, offline.stderr
    runs = list((tmp_path / "off/wandb").glob("offline-run-*"))
    assert len(runs) == 1 and (tmp_path / "off/wandb_run_id").read_text() in runs[0].name
    # online without credentials: wandb cannot start, the run goes on and says so once
    online = subprocess.run([*base, "logger.mode=online", "hydra.run.dir=on"], cwd=tmp_path,
                            env=env, text=True, capture_output=True, timeout=300)
    assert online.returncode == 0, online.stderr
    assert (online.stdout + online.stderr).count("wandb could not") == 1
    assert json.loads((tmp_path / "on/summary.json").read_text())["status"] == "completed"
