"""A run keeps its previous checkpoint (checkpoints/prev.pt) and falls back to it when last.pt
cannot be read, rewinding its metrics as any resume does, to the same final metrics."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from conftest import TINY, make_cfg

from deep_pg import checkpoint as ckpt
from deep_pg.exits import BadInput
from deep_pg.run import run_training
from deep_pg.trainer import Trainer

ARGS = [*TINY, "total_steps=2048", "checkpoint.every=1"]  # 8 iterations, a checkpoint after each
TIME_FIELDS = {"wall_time", "iter_time", "sps"}


def metrics(run_dir: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(line).items() if k not in TIME_FIELDS}
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]


def iteration(path: Path) -> int:
    return torch.load(path, weights_only=False)["counters"]["iteration"]


def truncate(path: Path) -> None:
    """What a copy taken while the file was written, or disk trouble, leaves."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def interrupted_run(run_dir: Path, monkeypatch, after: int) -> None:
    """Train until ``after`` iterations are done and checkpointed, then stop as a kill would
    (no summary, no final checkpoint)."""
    real = Trainer.train_iteration

    def train_iteration(self):
        if self.iteration >= after:
            raise KeyboardInterrupt
        return real(self)

    with monkeypatch.context() as patched:
        patched.setattr(Trainer, "train_iteration", train_iteration)
        with pytest.raises(KeyboardInterrupt):
            run_training(make_cfg(*ARGS), run_dir=run_dir)
    assert not (run_dir / "summary.json").exists()


def test_each_write_of_last_keeps_the_one_it_replaces_as_prev(tmp_path):
    for i in range(3):
        ckpt.save_rotating({"i": i}, tmp_path)
        assert ckpt.load(tmp_path / ckpt.LAST_CHECKPOINT) == {"i": i}
    assert ckpt.load(tmp_path / ckpt.PREVIOUS_CHECKPOINT) == {"i": 1}
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.pt", "prev.pt"]


def test_truncated_last_checkpoint_resumes_from_the_previous_one_to_the_same_metrics(
    tmp_path, monkeypatch, caplog
):
    run_training(make_cfg(*ARGS), run_dir=tmp_path / "ref")
    run_dir = tmp_path / "run"
    interrupted_run(run_dir, monkeypatch, after=5)
    last = run_dir / ckpt.LAST_CHECKPOINT
    assert iteration(last) == 5 and iteration(run_dir / ckpt.PREVIOUS_CHECKPOINT) == 4
    assert len(metrics(run_dir)) == 5
    truncate(last)
    with caplog.at_level(logging.INFO, logger="deep_pg"):
        run_training(make_cfg(*ARGS), run_dir=run_dir)
    said = [r.getMessage() for r in caplog.records if "prev.pt" in r.getMessage()]
    assert len(said) == 1, said
    assert "at iteration 4" in said[0] and f"cannot read checkpoint {last}" in said[0]
    assert "dropped" in said[0]  # iteration 5's metrics line, logged after prev.pt
    assert metrics(run_dir) == metrics(tmp_path / "ref")
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_neither_checkpoint_readable_is_one_clear_error(tmp_path, monkeypatch, capsys):
    interrupted_run(tmp_path, monkeypatch, after=3)
    truncate(tmp_path / ckpt.LAST_CHECKPOINT)
    truncate(tmp_path / ckpt.PREVIOUS_CHECKPOINT)
    with pytest.raises(BadInput) as exit_info:
        run_training(make_cfg(*ARGS), run_dir=tmp_path)
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "last.pt" in errors[0] and "prev.pt" in errors[0], errors
    assert len(metrics(tmp_path)) == 3  # the user's data is left alone
