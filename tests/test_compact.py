"""deep_pg.analysis.compact: a study exported without checkpoints loads as the runs it came from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY, make_cfg
from omegaconf import OmegaConf

from deep_pg.analysis import AnalysisError, load_runs
from deep_pg.analysis.compact import MANIFEST, TIMING_COLUMNS, export, machine
from deep_pg.analysis.final import FinalReward
from deep_pg.analysis.report import main, make_study_reports, study_dirs
from deep_pg.run import run_training


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
    pd.DataFrame(
        {
            "iteration": [0, 0, 2],
            "variant": ["a", "b", "a"],
            "measure": "m",
            "value": [0.5, float("nan"), 0.25],
        }
    ).to_parquet(root / "ppo/seed=0/probes/gradient.parquet")
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
    assert manifest["machine"] == machine() and manifest["machine"].endswith(" cores")
    store = tmp_path / "results" / "study"
    assert not any(p.suffix == ".pt" for p in store.rglob("*"))  # no checkpoints
    original, stored = load_runs(sweep), load_runs(store)
    pd.testing.assert_frame_equal(_comparable(original.configs), _comparable(stored.configs))
    pd.testing.assert_frame_equal(original.curves, stored.curves, check_like=True)
    assert set(stored.probes) == {"gradient"}
    pd.testing.assert_frame_equal(
        original.probes["gradient"], stored.probes["gradient"], check_like=True
    )


def test_stores_of_several_exports_load_together_with_prefixed_run_ids(sweep, tmp_path):
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
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deep_pg.analysis.compact",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "deep-pg-export: error:" in proc.stderr and "missing" in proc.stderr


def test_report_of_a_results_folder_makes_one_report_per_study(sweep, tmp_path):
    export(sweep / "ppo", tmp_path / "results" / "ppo_study")
    export(sweep / "trpo", tmp_path / "results" / "trpo_study")
    out = tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deep_pg.analysis.report",
            str(tmp_path / "results"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    index = (out / "index.html").read_text()
    assert "ppo_study/index.html" in index and "trpo_study/index.html" in index
    ppo_runs = pd.read_csv(out / "ppo_study" / "runs.csv")
    trpo_runs = pd.read_csv(out / "trpo_study" / "runs.csv")
    assert set(ppo_runs.algo) == {"ppo"} and set(trpo_runs.algo) == {"trpo"}
    # each study described by its own metadata, on the index page and in studies.csv
    studies = pd.read_csv(out / "studies.csv").set_index("study")
    assert studies.loc["ppo_study", "runs"] == 2 and studies.loc["trpo_study", "runs"] == 1
    assert studies.loc["ppo_study", "holds"] == (
        "PPO on Pendulum; seeds 0, 2; 1,024 steps; probes gradient (0, 2)"
    )
    assert studies.loc["trpo_study", "machine"] == machine()
    assert studies.loc["trpo_study", "holds"] in index and machine() in index
    # every table over all studies, with a study column
    both = pd.read_csv(out / "all" / "runs.csv")
    assert both.columns[0] == "study" and sorted(set(both.study)) == ["ppo_study", "trpo_study"]
    assert len(both) == len(ppo_runs) + len(trpo_runs)
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
    assert len(tables) >= 4 and tables == sorted(
        p.relative_to(parallel) for p in parallel.rglob("*.csv")
    )
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
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deep_pg.analysis.report",
            str(tmp_path / "results"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "deep-pg-report: error:" in proc.stderr
    assert not (out / "index.html").exists()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deep_pg.analysis.report",
            str(tmp_path / "results"),
            "--out",
            str(out),
            "--workers",
            "0",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--workers: must be at least 1, got 0" in proc.stderr


def _probe(run_dir: Path, iterations: list[int], value: float) -> None:
    (run_dir / "probes").mkdir(exist_ok=True)
    pd.DataFrame(
        {"iteration": iterations, "variant": "a", "measure": "m", "value": value}
    ).to_parquet(run_dir / "probes" / "gradient.parquet")


def test_add_merges_a_recreated_runs_new_probe_checkpoints_and_new_runs(sweep, tmp_path):
    store = tmp_path / "store"
    export(sweep / "ppo", store)  # seed=0 with gradient rows at iterations 0 and 2
    before = load_runs(store)
    again = tmp_path / "again"  # a fresh machine: the run re-created, probed at 2 and 3
    _train(again / "seed=0", "algo=ppo", "seed=0")
    _probe(again / "seed=0", [2, 3], 0.75)
    shutil.copytree(sweep / "trpo" / "seed=1", again / "seed=1")  # a run new to the store
    manifest = export(again, store, add=True)
    assert manifest["runs"] == 3 and manifest["status"] == {"completed": 2, "incomplete": 1}
    assert manifest["source"] == str((sweep / "ppo").resolve())  # the first export's
    assert [a["source"] for a in manifest["added"]] == [str(again.resolve())]
    assert [a["machine"] for a in manifest["added"]] == [machine()]  # where it was re-created
    after = load_runs(store)
    assert sorted(after.configs.run_id) == ["seed=0", "seed=1", "seed=2"]
    rows = after.probes["gradient"].sort_values(["iteration", "variant"])
    assert rows.iteration.tolist() == [0, 0, 2, 3]  # the stored 2 replaced, 0 kept, 3 added
    assert rows.value.fillna(-1).tolist() == [0.5, -1, 0.75, 0.75]
    kept, now = (
        runs.curves[runs.curves.run_id == "seed=0"]
        .drop(columns=list(TIMING_COLUMNS))
        .dropna(axis=1, how="all")
        .reset_index(drop=True)
        for runs in (before, after)
    )
    pd.testing.assert_frame_equal(kept, now, check_like=True)
    assert len(after.curves[after.curves.run_id == "seed=1"]) > 0


def test_add_refuses_a_different_run_under_a_stored_id_and_leaves_the_store(sweep, tmp_path):
    store = tmp_path / "store"
    export(sweep / "ppo", store)
    files = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    other = tmp_path / "other"
    _train(other / "seed=0", "algo=ppo", "seed=5")  # the stored id, another agent
    with pytest.raises(AnalysisError, match=r"seed=0.*differs.*not the same run"):
        export(other, store, add=True)
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == files
    assert not list(tmp_path.glob(".store*"))
    with pytest.raises(AnalysisError, match="no store to add to"):
        export(other, tmp_path / "new", add=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deep_pg.analysis.compact",
            str(other),
            "--out",
            str(store),
            "--add",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "deep-pg-export: error:" in proc.stderr and "not the same run" in proc.stderr


def test_runs_made_before_an_opt_key_existed_count_as_its_default_setting():
    """The committed F8_humanoid holds seeds 0-1 from before opt.grad_clip_scope existed and seed
    2 from after: the same 48 settings, not 96."""
    from deep_pg.analysis.studies import describe

    study = Path(__file__).resolve().parents[1] / "results" / "F8_humanoid"
    runs = [json.loads((s / "runs.json").read_text()) for s in sorted(study.iterdir())]
    assert "opt.grad_clip_scope" not in runs[0][0]["info"]
    assert "opt.grad_clip_scope" in runs[-1][0]["info"]
    assert describe(study)["holds"].endswith("; 48 settings per algorithm and environment")
