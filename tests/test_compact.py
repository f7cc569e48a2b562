"""analysis.compact: a study exported without checkpoints loads as the runs it came from."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from analysis import AnalysisError, load_runs
from analysis.compact import MANIFEST, export
from analysis.final import FinalReward
from analysis.report import main, make_study_reports, study_dirs
from deep_pg.run import run_training
from conftest import TINY, make_cfg


def _train(run_dir: Path, *overrides: str) -> None:
    cfg = make_cfg(*TINY, *overrides)
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    run_training(cfg, run_dir=run_dir)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A PPO and a TRPO run (different metric columns), one with a probe table, and a run
    killed before its summary (incomplete)."""
    root = tmp_path_factory.mktemp("sweep")
    _train(root / "ppo/seed=0", "algo=ppo", "seed=0")
    _train(root / "trpo/seed=1", "algo=trpo", "seed=1")
    (root / "ppo/seed=0/probes").mkdir()
    pd.DataFrame({"iteration": [0, 0, 2], "variant": ["a", "b", "a"], "measure": "m",
                  "value": [0.5, float("nan"), 0.25]}).to_parquet(
        root / "ppo/seed=0/probes/gradient.parquet")
    _train(root / "ppo/seed=2", "algo=ppo", "seed=2")
    (root / "ppo/seed=2/summary.json").unlink()
    (root / "ppo/seed=2/checkpoints/last.pt").unlink()
    return root


def _comparable(frame: pd.DataFrame, drop=("run_dir",)) -> pd.DataFrame:
    return frame.drop(columns=[c for c in drop if c in frame]).reset_index(drop=True)


def test_an_exported_study_loads_as_the_runs_it_came_from(sweep, tmp_path):
    manifest = export(sweep, tmp_path / "results" / "study")
    assert manifest["runs"] == 3 and manifest["status"] == {"completed": 2, "incomplete": 1}
    assert manifest["probes"] == ["gradient"]
    store = tmp_path / "results" / "study"
    assert not any(p.suffix == ".pt" for p in store.rglob("*"))  # no checkpoints
    original, stored = load_runs(sweep), load_runs(store)
    pd.testing.assert_frame_equal(_comparable(original.configs), _comparable(stored.configs))
    pd.testing.assert_frame_equal(original.curves, stored.curves, check_like=True)
    assert set(stored.probes) == {"gradient"}
    pd.testing.assert_frame_equal(original.probes["gradient"], stored.probes["gradient"],
                                  check_like=True)


def test_stores_of_several_sessions_load_together_with_prefixed_run_ids(sweep, tmp_path):
    export(sweep / "ppo", tmp_path / "study" / "part1")
    export(sweep / "trpo", tmp_path / "study" / "part2")
    runs = load_runs(tmp_path / "study")
    assert sorted(runs.configs.run_id) == ["part1/seed=0", "part1/seed=2", "part2/seed=1"]
    assert len(runs.curves) == len(load_runs(sweep).curves)


def test_export_replaces_an_earlier_export_and_refuses_anything_else(sweep, tmp_path):
    out = tmp_path / "store"
    export(sweep / "trpo", out)
    export(sweep / "ppo", out)  # the study grew: the new export replaces the old one whole
    assert json.loads((out / MANIFEST).read_text())["runs"] == 2
    assert not list(tmp_path.glob(".store*"))  # no staging or old copy left behind
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(AnalysisError, match="not a compact store"):
        export(sweep, tmp_path / "notes")
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me"
    with pytest.raises(AnalysisError, match="inside the runs"):
        export(sweep, sweep / "results")
    proc = subprocess.run([sys.executable, "-m", "analysis.compact", str(tmp_path / "missing"),
                           "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "deep-pg-export: error:" in proc.stderr and "missing" in proc.stderr


def test_report_of_a_results_folder_makes_one_report_per_study(sweep, tmp_path):
    export(sweep / "ppo", tmp_path / "results" / "ppo_study")
    export(sweep / "trpo", tmp_path / "results" / "trpo_study")
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(tmp_path / "results"),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    index = (out / "index.html").read_text()
    assert "ppo_study/index.html" in index and "trpo_study/index.html" in index
    ppo_runs = pd.read_csv(out / "ppo_study" / "runs.csv")
    trpo_runs = pd.read_csv(out / "trpo_study" / "runs.csv")
    assert set(ppo_runs.algo) == {"ppo"} and set(trpo_runs.algo) == {"trpo"}
    # one study alone is reported at the same place
    shutil.rmtree(tmp_path / "results" / "trpo_study")
    main([str(tmp_path / "results"), "--out", str(tmp_path / "one"), "--no-progress"])
    assert pd.read_csv(tmp_path / "one" / "ppo_study" / "runs.csv").equals(ppo_runs)


def test_studies_reported_in_parallel_match_those_reported_one_by_one(sweep, tmp_path):
    export(sweep / "ppo", tmp_path / "results" / "ppo_study")
    export(sweep / "trpo", tmp_path / "results" / "trpo_study")
    studies = study_dirs(str(tmp_path / "results"))
    make_study_reports(studies, tmp_path / "serial", FinalReward(), workers=1)
    make_study_reports(studies, tmp_path / "parallel", FinalReward(), workers=2)
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    tables = sorted(p.relative_to(serial) for p in serial.rglob("*.csv"))
    assert len(tables) >= 4 and tables == sorted(p.relative_to(parallel)
                                                 for p in parallel.rglob("*.csv"))
    for table in tables:
        assert (serial / table).read_text() == (parallel / table).read_text()
    assert (serial / "index.html").read_text() == (parallel / "index.html").read_text()


def test_a_bad_study_fails_the_parallel_report_with_its_error_and_no_index(sweep, tmp_path):
    export(sweep / "ppo", tmp_path / "results" / "ppo_study")
    export(sweep / "trpo", tmp_path / "results" / "trpo_study")
    manifest = tmp_path / "results" / "trpo_study" / MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "version": 0}))
    out = tmp_path / "report"
    with pytest.raises(AnalysisError, match="trpo_study.*version"):
        make_study_reports(study_dirs(str(tmp_path / "results")), out, FinalReward(), workers=2)
    assert not (out / "index.html").exists()
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(tmp_path / "results"),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2 and "deep-pg-report: error:" in proc.stderr
    assert not (out / "index.html").exists()
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(tmp_path / "results"),
                           "--out", str(out), "--workers", "0"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--workers: must be at least 1, got 0" in proc.stderr
