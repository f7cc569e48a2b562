"""analysis: loaders on a small real sweep, final rewards, the ablation, statistics, the report."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, make_cfg
from omegaconf import OmegaConf
from scipy import stats

from deep_pg.analysis import AnalysisError, load_runs
from deep_pg.analysis.ablation import (
    best_lr,
    cumulative_histogram,
    toggle_table,
    tuned_runs,
    usable,
)
from deep_pg.analysis.comparison import compare_algorithms
from deep_pg.analysis.figures.common import NaturalLogLocator, plain_number
from deep_pg.analysis.figures.curves import trust_region_curves
from deep_pg.analysis.figures.outcomes import ablation_figures
from deep_pg.analysis.final import FinalReward, final_rewards
from deep_pg.analysis.probe_summary import probe_summary
from deep_pg.analysis.report import main as report_main
from deep_pg.analysis.report import make_report
from deep_pg.analysis.report_data import analyse
from deep_pg.analysis.runs import from_records
from deep_pg.analysis.schema import ABLATION_TOGGLES, HEADLINE, identity
from deep_pg.analysis.settings import ONLY_SETTING, arm_file_name, setting_labels
from deep_pg.analysis.stats import (
    bootstrap_interval,
    estimate_interval,
    estimate_label,
    hierarchical_interval,
    interval_label,
    iqm,
    mean_interval,
    performance_profile,
    probability_of_improvement,
    t_interval,
)
from deep_pg.analysis.trust_region import trust_region_table
from deep_pg.analysis.wandb_source import build_filters, parse_path, record_from_api_run
from deep_pg.bootstrap import bootstrap_ci
from deep_pg.run import run_training

ITERATIONS = 4  # TINY: 1024 steps of 256


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """8 PPO runs (lr_anneal on/off × 2 LRs × 2 seeds) and 2 PPO-M runs, trained in-process at
    sweep-like paths, each with the config Hydra would have saved in .hydra/config.yaml."""
    root = tmp_path_factory.mktemp("sweep")
    jobs = [
        (
            ("algo=ppo", f"opt.lr_anneal={anneal}", f"algo.policy_lr={lr}", f"seed={seed}"),
            f"ppo/pendulum/anneal={anneal}/lr={lr}/seed={seed}",
        )
        for anneal in ("true", "false")
        for lr in ("3e-4", "1e-3")
        for seed in (0, 1)
    ]
    jobs += [(("algo=ppo_m", f"seed={seed}"), f"ppo_m/pendulum/seed={seed}") for seed in (0, 1)]
    for overrides, rel in jobs:
        _train(root / rel, *overrides)
    return root


def _train(run_dir: Path, *overrides: str) -> None:
    cfg = make_cfg(*TINY, *overrides)
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    run_training(cfg, run_dir=run_dir)


# --- loaders -----------------------------------------------------------------------------------
def test_local_loader_schema_and_row_counts(sweep):
    runs = load_runs(sweep, progress=False)
    assert len(runs.configs) == 10 and runs.configs["run_id"].is_unique
    assert list(runs.configs.columns[: len(HEADLINE)]) == HEADLINE
    assert set(ABLATION_TOGGLES) <= set(runs.configs.columns)
    assert (runs.configs["status"] == "completed").all()
    assert runs.configs.groupby("algo").size().to_dict() == {"ppo": 8, "ppo_m": 2}
    ppo = runs.configs[runs.configs["algo"] == "ppo"]
    assert sorted(ppo["lr"].unique()) == [3e-4, 1e-3]
    assert ppo["opt.lr_anneal"].value_counts().to_dict() == {True: 4, False: 4}
    assert len(runs.curves) == 10 * ITERATIONS
    assert list(runs.metrics.columns) == ["run_id", "iteration", "env_steps", "metric", "value"]
    per_run = runs.metrics[runs.metrics["metric"] == "mean_kl"].groupby("run_id").size()
    assert (per_run == ITERATIONS).all() and len(per_run) == 10
    assert runs.problems.empty and runs.probes == {} and runs.duplicates.empty


def test_incomplete_failed_and_corrupt_runs_are_marked_not_dropped(sweep, tmp_path, caplog):
    tree = tmp_path / "tree"
    shutil.copytree(sweep, tree)
    ids = sorted(load_runs(tree, progress=False).configs.query("algo == 'ppo'")["run_id"])[:3]
    incomplete, failed, corrupt = (tree / run_id for run_id in ids)
    (incomplete / "summary.json").unlink()
    summary = json.loads((failed / "summary.json").read_text())
    (failed / "summary.json").write_text(
        json.dumps({**summary, "status": "failed", "reason": "non-finite values"})
    )
    with open(corrupt / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 5, "env_st')  # a crash mid-write
    with caplog.at_level(logging.WARNING, logger="analysis"):
        runs = load_runs(tree, progress=False)
    configs = runs.configs.set_index("run_id")
    assert len(configs) == 10
    assert (
        configs.loc[ids[0], "status"] == "incomplete" and configs.loc[ids[1], "status"] == "failed"
    )
    assert (configs["status"].drop(ids[:2]) == "completed").all()
    assert configs.loc[ids[1], "reason"] == "non-finite values"
    assert configs.loc[ids[2], "corrupt_lines"] == 1
    assert (runs.curves["run_id"] == ids[2]).sum() == ITERATIONS
    assert "corrupt" in " ".join(runs.problems["problem"]) and ids[2] in caplog.text


def test_no_runs_and_missing_path_are_clear_errors(tmp_path):
    with pytest.raises(AnalysisError, match="no runs found"):
        load_runs(tmp_path)
    with pytest.raises(AnalysisError, match="no such file"):
        load_runs(tmp_path / "nope")


def test_wandb_without_credentials_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path))
    with pytest.raises(AnalysisError, match="no credentials"):
        load_runs("wandb://someone/deep_pg")
    with pytest.raises(SystemExit) as exit_:
        report_main(["wandb://someone/deep_pg", "--out", str(tmp_path / "r")])
    assert exit_.value.code == 2 and "no credentials" in capsys.readouterr().err
    with pytest.raises(AnalysisError, match="ENTITY/PROJECT"):
        parse_path("wandb://just-a-project")


def test_wandb_filters():
    assert build_filters() == {}
    assert build_filters(group="sweep-1") == {"group": "sweep-1"}
    assert build_filters(group="g", algo="ppo", extra={"state": "finished"}) == {
        "$and": [{"group": "g"}, {"config.algo.name": "ppo"}, {"state": "finished"}]
    }


def test_wandb_runs_map_onto_the_local_schema(sweep):
    """A run as the public API returns it (documented fields) → the same columns as locally."""
    local = load_runs(sweep, progress=False)
    row = local.configs.iloc[0]
    config = OmegaConf.to_container(OmegaConf.load(Path(row["run_dir"]) / ".hydra/config.yaml"))
    summary = json.loads((Path(row["run_dir"]) / "summary.json").read_text())
    history = [
        {**r, "_step": r["iteration"], "_runtime": 1.0, "_timestamp": 0.0}
        for r in map(json.loads, open(Path(row["run_dir"]) / "metrics.jsonl"))
    ]
    api_run = SimpleNamespace(
        id="abc123",
        name="ppo-pendulum-s0",
        group="sweep",
        state="finished",
        url="https://wandb.ai/e/p/runs/abc123",
        config={**config, "_wandb": {"x": 1}},
        summary={**summary, "_step": 4},
        scan_history=lambda: iter(history),
        created_at="2026-11-21T10:00:00",
        heartbeat_at="2026-11-21T10:05:00",
    )
    crashed = SimpleNamespace(
        **{
            **vars(api_run),
            "id": "def456",
            "state": "crashed",
            "config": {**config, "seed": config["seed"] + 100},
            "summary": {},
            "scan_history": lambda: iter(history[:2]),
        }
    )
    # the same config and seed again, reporting later: the one kept, the first listed as a repeat
    again = SimpleNamespace(
        **{**vars(api_run), "id": "ghi789", "heartbeat_at": "2026-11-21T11:00Z"}
    )
    runs = from_records(
        [record_from_api_run(r, "e/p") for r in (api_run, crashed, again)], source="wandb://e/p"
    )
    assert runs.duplicates[["run_id", "same_as"]].values.tolist() == [["e/p/abc123", "e/p/ghi789"]]
    assert str(runs.duplicates["modified"].iloc[0]) == "2026-11-21 10:05:00+00:00"
    runs = from_records(
        [record_from_api_run(r, "e/p") for r in (api_run, crashed)], source="wandb://e/p"
    )
    assert list(runs.configs.columns[: len(HEADLINE)]) == HEADLINE
    assert set(local.configs.columns) <= set(runs.configs.columns)
    assert runs.configs["status"].tolist() == ["completed", "failed"]
    assert runs.configs["run_id"].tolist() == ["e/p/abc123", "e/p/def456"]
    assert runs.configs.loc[0, "lr"] == row["lr"] and runs.configs.loc[0, "seed"] == row["seed"]
    assert list(runs.metrics.columns) == list(local.metrics.columns)
    assert runs.curves.groupby("run_id").size().tolist() == [ITERATIONS, 2]
    assert not any(c.startswith("_") for c in runs.curves.columns)


# --- repeated runs -----------------------------------------------------------------------------
def _age(run_dir: Path, age_s: float) -> None:
    """Make every file of a run last written ``age_s`` seconds ago."""
    stamp = time.time() - age_s
    for path in run_dir.rglob("*"):
        os.utime(path, (stamp, stamp))


def _copy_run(source: Path, dest: Path, age_s: float) -> None:
    """A second run of the same config and seed, last written ``age_s`` seconds ago."""
    shutil.copytree(source, dest)
    _age(dest, age_s)


def _reruns(sweep: Path, tree: Path) -> tuple[str, str, str]:
    """ppo_m seed 0 trained three times: the original (oldest), a newer completed rerun with a
    different checkpoint interval (not part of the identity), and a newest one killed mid-run."""
    shutil.copytree(sweep, tree)
    original, again, killed = (
        "ppo_m/pendulum/seed=0",
        "again/ppo_m/pendulum/seed=0",
        "killed/ppo_m/pendulum/seed=0",
    )
    _age(tree / original, age_s=300)
    _copy_run(sweep / original, tree / again, age_s=200)
    config_path = tree / again / ".hydra" / "config.yaml"
    config = OmegaConf.load(config_path)
    config.checkpoint.every, config.logger.mode = 7, "offline"
    OmegaConf.save(config, config_path)
    _age(tree / again, age_s=200)
    _copy_run(sweep / original, tree / killed, age_s=0)
    (tree / killed / "summary.json").unlink()
    return original, again, killed


def test_identity_is_what_the_run_trained_not_how_it_was_logged():
    run = {"algo.name": "ppo", "opt.lr_anneal": True, "seed": 0, "logger.mode": "offline"}
    returns = identity({**run, "opt.reward_scaling": "returns"})
    assert identity({**run, "opt.reward_scaling": "none"}) != returns
    assert identity({**run, "opt.reward_scaling": "returns", "logger.mode": "online"}) == returns


def test_reruns_of_one_seed_count_once_and_warn(sweep, tmp_path, caplog):
    original, again, killed = _reruns(sweep, tmp_path / "tree")
    assert OmegaConf.load(tmp_path / "tree" / again / ".hydra/config.yaml").checkpoint.every == 7
    with caplog.at_level(logging.WARNING, logger="analysis"):
        runs = load_runs(tmp_path / "tree", progress=False)
    assert len(runs) == 10 and runs.configs["run_id"].is_unique
    # kept: completed beats the newer killed run; among completed runs the most recent wins
    assert again in set(runs.configs["run_id"]) and original not in set(runs.configs["run_id"])
    dropped = runs.duplicates.set_index("run_id")
    assert sorted(dropped.index) == sorted([original, killed])
    assert (dropped["same_as"] == again).all()
    assert dropped.loc[killed, "status"] == "incomplete"
    assert set(runs.curves["run_id"]) == set(runs.configs["run_id"])
    warnings = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(warnings) == 1 and "2 run(s)" in warnings[0] and killed in warnings[0]
    summary, _ = compare_algorithms(usable(final_rewards(runs))[0])
    assert summary.set_index("algo").loc["ppo_m", "n"] == 2  # seeds 0 and 1, not 4 runs


def test_a_run_without_a_config_is_never_a_duplicate(sweep, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(sweep, tree)
    _copy_run(sweep / "ppo_m/pendulum/seed=0", tree / "bare/ppo_m/pendulum/seed=0", age_s=0)
    shutil.rmtree(tree / "bare/ppo_m/pendulum/seed=0/.hydra")
    runs = load_runs(tree, progress=False)
    assert len(runs) == 11 and runs.duplicates.empty


# --- final reward ------------------------------------------------------------------------------
def test_final_reward_definitions(sweep):
    runs = load_runs(sweep, progress=False)
    last = final_rewards(runs)  # k=10 covers all 4 iterations: the trainer's own definition
    np.testing.assert_allclose(last["final_return"], last["summary_final_return"], rtol=1e-9)
    assert last["final_definition"].str.contains("last 10 iterations").all()
    curves = runs.curves.set_index("run_id")
    run = last["run_id"].iloc[0]
    returns = curves.loc[run, "return_mean"].to_numpy(float)
    two = final_rewards(runs, FinalReward("last", 2)).set_index("run_id")
    assert two.loc[run, "final_return"] == pytest.approx(np.nanmean(returns[-2:]))
    best = final_rewards(runs, FinalReward.parse("max")).set_index("run_id")
    assert best.loc[run, "final_return"] == pytest.approx(np.nanmax(returns))
    assert "max over training" in best["final_definition"].iloc[0]
    with pytest.raises(AnalysisError):
        FinalReward.parse("median")


# --- the ablation ------------------------------------------------------------------------------
def _hand_table():
    """2 configurations (lr_anneal on/off) × 3 LRs × 2 seeds with known means; a tie at lr 1e-3
    for the 'off' configuration between 1e-3 and 3e-3 (the smaller wins)."""
    means = {
        (True, 1e-4): 10,
        (True, 1e-3): 30,
        (True, 3e-3): 20,
        (False, 1e-4): 5,
        (False, 1e-3): 8,
        (False, 3e-3): 8,
    }
    rows = []
    for (anneal, lr), mean in means.items():
        for seed, delta in ((0, -1.0), (1, 1.0)):
            rows.append(
                {
                    "algo": "ppo",
                    "env": "hopper",
                    "opt.lr_anneal": anneal,
                    "opt.reward_scaling": "returns",
                    "opt.ortho_init": True,
                    "opt.value_clip": True,
                    "lr": lr,
                    "seed": seed,
                    "final_return": mean + delta,
                }
            )
    return pd.DataFrame(rows)


def test_best_lr_selection_on_a_hand_made_table():
    best = best_lr(_hand_table()).set_index("config")
    assert best.loc["opt=1111", "lr"] == 1e-3 and best.loc["opt=1111", "mean_final"] == 30
    assert best.loc["opt=0111", "lr"] == 1e-3 and best.loc["opt=0111", "mean_final"] == 8
    assert (best["n_seeds"] == 2).all() and (best["lrs_tried"] == 3).all()


def test_cumulative_histogram_data():
    table = _hand_table()
    tuned = tuned_runs(table, best_lr(table))
    hist = cumulative_histogram(tuned, "opt.lr_anneal")
    on = hist[hist["state"] == "on"]
    off = hist[hist["state"] == "off"]
    assert on["final_return"].tolist() == [29, 31] and on["fraction"].tolist() == [0.5, 1.0]
    assert off["final_return"].tolist() == [7, 9] and off["fraction"].tolist() == [0.5, 1.0]
    row = toggle_table(tuned).set_index("toggle").loc["opt.lr_anneal"]
    assert row["p_on_better"] == 1.0 and row["n_on"] == row["n_off"] == 2


def test_comparison_says_which_setting_represents_each_algorithm(sweep):
    final = final_rewards(load_runs(sweep, progress=False))
    summary, _ = compare_algorithms(final)
    rows = summary.set_index("algo")
    assert rows.loc["ppo_m", "setting"] == ONLY_SETTING and rows.loc["ppo_m", "settings_tried"] == 1
    assert rows.loc["ppo", "settings_tried"] == 4  # lr_anneal on/off × 2 learning rates
    assert "algo.policy_lr=" in rows.loc["ppo", "setting"]
    assert "opt.lr_anneal=" in rows.loc["ppo", "setting"]


# --- statistics --------------------------------------------------------------------------------
def test_bootstrap_ci_covers_a_known_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(1234)
    trials, hits = 300, 0
    for _ in range(trials):
        sample = rng.exponential(scale=2.0, size=40)  # skewed, true mean 2
        _, low, high = bootstrap_ci(
            [sample], np.mean, n_resamples=1000, seed=int(rng.integers(1e9))
        )
        hits += low <= 2.0 <= high
    # nominal 0.95; the percentile bootstrap under-covers a little on skewed n=40 data
    assert 0.88 <= hits / trials <= 0.99, hits / trials


def test_means_over_seeds_get_t_intervals_never_called_95_percent_below_five():
    values = [1800.0, 2600.0, 900.0]
    mean, low, high, label = mean_interval(values)
    ci = stats.ttest_1samp(values, 0).confidence_interval(0.95)
    assert (mean, low, high) == pytest.approx((np.mean(values), ci.low, ci.high))
    assert label == "t, n=3 seeds" and "95%" not in label
    # the percentile bootstrap over 3 seeds is about their range: the t-interval is much wider
    _, b_low, b_high = bootstrap_ci([values], np.mean)
    assert high - low > 2 * (b_high - b_low)
    assert interval_label("t", 5, "seeds") == "95% t, n=5 seeds"
    assert interval_label("t", 1) == "no interval, n=1"


def test_bootstrap_intervals_use_bca_from_five_units_and_name_it():
    rng = np.random.default_rng(3)
    many, few = rng.exponential(size=20), rng.exponential(size=4)
    point, low, high, label = bootstrap_interval([many], iqm, unit="agents")
    assert label == "95% BCa bootstrap, n=20 agents" and low < point < high
    assert point == pytest.approx(iqm(many))
    assert bootstrap_interval([few], iqm)[3] == "percentile bootstrap, n=4"
    p, low, high, label = bootstrap_interval([many + 1, many], probability_of_improvement)
    assert p == pytest.approx(probability_of_improvement(many + 1, many)) and low <= p <= high


def test_an_interval_over_agents_keeps_their_variation_however_many_trials_each():
    # three agents far apart, each measured precisely by 50 trials: pooling the 150 trials
    # would give a narrow interval; the agents' own means give the t-interval over 3
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        [
            {"run_id": f"r{a}", "value": center + rng.normal(0, 0.01)}
            for a, center in enumerate((0.2, 0.5, 0.8))
            for _ in range(50)
        ]
    )
    mean, low, high, own = estimate_interval(rows)
    means = rows.groupby("run_id")["value"].mean()
    assert not own and mean == pytest.approx(means.mean())
    assert (low, high) == pytest.approx(t_interval(means)[1:])
    assert high - low > 1.0  # t(2) over three spread means, not the pooled trials' ±0.003
    assert estimate_label(rows) == "t, n=3 agents"
    one = rows[rows["run_id"] == "r0"]
    assert estimate_label(one) == "95% t, n=50 trials (one agent)"


def test_hierarchical_interval_resamples_seeds_before_pairs():
    # each seed's pairs agree closely, the seeds do not: a bootstrap over the 60 pairs would
    # call the mean tight; resampling the 3 seeds first shows it is not
    rng = np.random.default_rng(1)
    seeds = np.repeat([0, 1, 2], 20)
    diffs = np.array([100.0, 0.0, 200.0])[seeds] + rng.normal(0, 5, size=60)
    mean, low, high, label = hierarchical_interval(diffs, seeds)
    _, p_low, p_high = bootstrap_ci([diffs], np.mean)
    assert label == "hierarchical bootstrap, 3 seeds × 20 pairs"
    assert low < mean < high and (high - low) > 3 * (p_high - p_low)
    assert low < 50 and high > 150


def test_performance_profile_is_the_share_above_each_threshold_with_its_band():
    values = np.arange(10.0)
    profile = performance_profile(values, [-1, 4.5, 9])
    assert profile["fraction"].tolist() == [1.0, 0.5, 0.0]
    assert (profile["low"] <= profile["fraction"]).all()
    assert (profile["fraction"] <= profile["high"]).all()
    assert profile.loc[1, "high"] - profile.loc[1, "low"] > 0.3  # 10 agents: a wide band


def test_iqm_and_probability_of_improvement():
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert iqm([1, 2, 3, 4, 1000, -1000, 2.5, 2.5]) == pytest.approx(2.5)
    assert probability_of_improvement([3, 4], [1, 2]) == 1.0
    assert probability_of_improvement([1, 2], [1, 2]) == 0.5
    assert probability_of_improvement([2], [1, 2, 3]) == pytest.approx(0.5)
    point, low, high = bootstrap_ci([[5, 5, 5]], np.mean)
    assert point == low == high == 5


# --- the report --------------------------------------------------------------------------------
def _write_probe_tables(run_dir: Path, offset: float) -> None:
    """Probe tables in the format deep_pg/probes/results.py writes (measure = the quantity,
    variant = the condition; trial rows plus a trial == -1 mean row with its CI), standing in for
    a probe run here."""
    rng = np.random.default_rng(int(offset * 10))
    rows = {"gradient": [], "value": [], "baselines": [], "landscape": [], "trust_region": []}

    def add(probe, it, variant, measure, n, values, **extra):
        base = dict(
            iteration=it,
            probe=probe,
            variant=variant,
            measure=measure,
            sample_count=n,
            num_pairs=n,
            **extra,
        )
        rows[probe] += [dict(base, trial=k, value=v) for k, v in enumerate(values)]
        rows[probe].append(
            dict(base, trial=-1, value=np.mean(values), ci_low=min(values), ci_high=max(values))
        )

    for it in (1, 3):
        for n in (100, 1000, 10000):
            for measure in ("pairwise", "true"):
                for variant in ("gradient", "step"):
                    add(
                        "gradient",
                        it,
                        variant,
                        measure,
                        n,
                        np.log10(n) / 5 - offset + rng.normal(0, 0.02, 4),
                    )
            for variant, shift in (("value_net", 0), ("true_value", 0.2), ("zero", -0.1)):
                add(
                    "baselines",
                    it,
                    variant,
                    "pairwise",
                    n,
                    np.log10(n) / 6 + shift + rng.normal(0, 0.02, 4),
                )
        add("baselines", it, "true_value", "fit_mre", 50000, [0.1])
        for split in ("train", "heldout"):
            for measure, level in (("gae", 0.01), ("returns", 0.5)):
                add(
                    "value",
                    it,
                    split,
                    measure,
                    2048,
                    level * it * (1 + offset) * rng.uniform(0.8, 1.2, 3),
                )
            for measure, level in (("mean_kl", 0.01), ("max_ratio", 1.5)):
                add(
                    "trust_region",
                    it,
                    split,
                    measure,
                    2048,
                    level * (1 + offset) * rng.uniform(0.9, 1.1, 3),
                )
        for m in (256, 2048):
            for a in np.linspace(0, 3, 4):
                for b in np.linspace(0, 3, 4):
                    point = dict(
                        iteration=it,
                        probe="landscape",
                        variant="step_random",
                        trial=-1,
                        step_samples=m,
                        step_coef=a,
                        random_coef=b,
                    )
                    rows["landscape"].append(
                        dict(point, measure="surrogate", sample_count=m, value=a - b)
                    )
                    for n in (2000, 100000):
                        rows["landscape"].append(
                            dict(
                                point,
                                measure="return",
                                sample_count=n,
                                value=a - b**2 + rng.normal(0, 1e4 / n),
                            )
                        )
    (run_dir / "probes").mkdir()
    for probe, table in rows.items():
        pd.DataFrame(table).to_parquet(run_dir / "probes" / f"{probe}.parquet")


def _assert_png_ok(path: Path):
    import matplotlib.image as mpimg

    pixels = mpimg.imread(path)  # raises if the file does not decode
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
    assert pixels[..., :3].std() > 0.05, f"{path.name} looks blank"


def test_log_ticks_read_naturally():
    def labels(low, high):
        return [plain_number(t) for t in NaturalLogLocator().tick_values(low, high)]

    assert labels(1e-4, 0.03) == ["0.0001", "0.001", "0.01"]
    assert labels(64, 2600) == ["100", "200", "500", "1000", "2000"]
    # matplotlib labels this range 1.2×10⁰ … 2.4×10⁰ with two minor ticks
    assert labels(1.2, 2.4) == ["1.2", "1.4", "1.6", "1.8", "2", "2.2"]
    assert labels(0.75, 3.5) == ["1", "2", "3"]  # not 0.8, 0.9, 1, 2, 3 crowded at one end
    assert labels(1e-5, 1e3) == ["1e-5", "0.001", "0.1", "10", "1000"]  # at most 8 ticks


def _visible_labels(axis, low, high) -> list[str]:
    return [
        label.get_text()
        for label, at in zip(axis.get_ticklabels(), axis.get_ticklocs())
        if low <= at <= high and label.get_text()
    ]


def test_trust_region_panels_share_the_env_steps_axis_and_name_bounds_drawn(sweep, tmp_path):
    without_trpo = trust_region_curves(load_runs(sweep, progress=False), None)
    assert "δ" not in without_trpo[0].caption and "1+ε (dashed)" in without_trpo[1].caption
    tree = tmp_path / "tree"
    shutil.copytree(sweep, tree)
    _train(tree / "trpo/pendulum/seed=0", "algo=trpo")
    kl, _ = trust_region_curves(load_runs(tree, progress=False), None)
    assert "TRPO's δ (dashed)" in kl.caption
    ax = kl.fig.axes[0]
    kl.fig.canvas.draw()
    assert ax.get_xlabel() == "env steps" and ax.get_xlim()[1] >= 1024
    y_labels = _visible_labels(ax.yaxis, *ax.get_ylim())
    assert len(y_labels) >= 3 and not any("$" in t or "×" in t for t in y_labels), y_labels
    (iterations,) = ax.child_axes
    top = _visible_labels(iterations.xaxis, *iterations.get_xlim())
    assert iterations.get_xlabel() == "iteration" and len(top) >= 2
    assert all(t.replace("−", "-").lstrip("-").isdigit() for t in top), top


def test_probe_tables_average_each_runs_mean_with_intervals_over_runs(sweep, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(sweep, tree)
    configs = load_runs(tree, progress=False).configs.sort_values("run_id")
    ppo = configs.loc[configs["algo"] == "ppo", "run_id"].iloc[:2].tolist()
    ppo_m = configs.loc[configs["algo"] == "ppo_m", "run_id"].iloc[0]
    for run_id, offset in ((ppo[0], 0.0), (ppo[1], 0.3), (ppo_m, 0.1)):
        _write_probe_tables(tree / run_id, offset)
    runs = load_runs(tree, progress=False)
    value = probe_summary(runs, "value").set_index(["algo", "iteration", "variant", "measure"])
    means = (
        runs.probes["value"]
        .query("trial == -1 and iteration == 3 and variant == 'heldout' and measure == 'returns'")
        .set_index("run_id")
    )
    two, one = (
        value.loc[("ppo", 3, "heldout", "returns")],
        value.loc[("ppo_m", 3, "heldout", "returns")],
    )
    assert two["n_runs"] == 2 and two["ci_over"] == "runs"
    assert two["mean"] == pytest.approx(means.loc[ppo, "value"].mean())
    assert two["mean_low"] < two["mean"] < two["mean_high"]
    assert one["n_runs"] == 1 and one["ci_over"] == "trials"
    assert (one["mean"], one["mean_low"], one["mean_high"]) == tuple(
        means.loc[ppo_m, ["value", "ci_low", "ci_high"]]
    )
    gradient = probe_summary(runs, "gradient")
    assert sorted(gradient["sample_count"].unique()) == [100, 1000, 10000]
    assert len(gradient) == 2 * 2 * 3 * 2 * 2  # algos x iterations x counts x measures x variants
    assert (
        probe_summary(runs, "value").columns.tolist()
        == probe_summary(load_runs(sweep, progress=False), "value").columns.tolist()
    )  # no table: same columns


def test_runs_of_one_algorithm_in_two_settings_are_summarized_apart(sweep, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(sweep, tree)
    configs = load_runs(tree, progress=False).configs
    assert set(configs.loc[configs["algo"] == "ppo_m", "setting"]) == {ONLY_SETTING}
    ppo = configs[(configs["algo"] == "ppo") & (configs["seed"] == 0)]
    assert ppo["setting"].nunique() == 4  # lr_anneal × policy lr: the keys that vary, named
    assert all("opt.lr_anneal=" in s and "algo.policy_lr=" in s for s in ppo["setting"])
    annealed = ppo[ppo["opt.lr_anneal"].astype(str) == "True"].sort_values("lr")["run_id"]
    for run_id, offset in zip(annealed, (0.0, 0.3)):  # same seed and lr grid, anneal on
        _write_probe_tables(tree / run_id, offset)
    runs = load_runs(tree, progress=False)
    means = (
        runs.probes["value"]
        .query("trial == -1 and iteration == 3 and variant == 'heldout' and measure == 'returns'")
        .set_index("setting")["value"]
    )
    value = (
        probe_summary(runs, "value")
        .query("iteration == 3 and variant == 'heldout' and measure == 'returns'")
        .set_index("setting")
    )
    assert len(value) == 2 and (value["n_runs"] == 1).all()  # one row per setting, not pooled
    assert value["mean"].to_dict() == means.to_dict()
    trust = trust_region_table(runs.curves, runs.configs)
    assert len(trust[trust["algo"] == "ppo"]) == 4 and (trust["n"] == 2).all()  # 2 seeds each


def test_a_setting_is_named_by_the_keys_that_vary():
    runs = pd.DataFrame(
        {
            "algo": ["ppo"] * 4 + ["trpo"],
            "env": "hopper",
            "seed": [0, 1, 2, 3, 0],
            "opt.reward_scaling": ["returns", "returns", "none", "none", "none"],
            "opt.value_clip": [True, True, True, False, True],
            "logger.mode": ["offline", "disabled", "offline", "offline", "offline"],
        }
    )
    assert setting_labels(runs).tolist() == [
        "opt.reward_scaling=returns, opt.value_clip=True",
        "opt.reward_scaling=returns, opt.value_clip=True",
        "opt.reward_scaling=none, opt.value_clip=True",
        "opt.reward_scaling=none, opt.value_clip=False",
        ONLY_SETTING,
    ]  # logger.mode is no setting


def test_report_writes_figures_tables_and_lists_what_is_missing(sweep, tmp_path):
    # Without probe tables: metric figures drawn, probe figures listed as missing.
    plain = make_report(str(sweep), tmp_path / "plain", progress=False)
    text = plain.read_text()
    assert "Figures not drawn" in text and "probes/gradient.parquet" in text
    assert "reward_curves.png" in text and "ablation_ppo_pendulum.png" in text
    assert re.search(r"Tuned agents: (blog|held-out) method", text)  # the caption names it

    tree = tmp_path / "tree"
    shutil.copytree(sweep, tree)
    configs = load_runs(tree, progress=False).configs.sort_values("run_id")
    for offset, algo in ((0.0, "ppo"), (0.3, "ppo_m")):
        _write_probe_tables(tree / configs.loc[configs["algo"] == algo, "run_id"].iloc[0], offset)
    probes = load_runs(tree, progress=False).probes["value"]
    assert (probes["env_steps"] == probes["iteration"] * 256).all()  # TINY: 256 steps per iteration
    index = make_report(str(tree), tmp_path / "report", progress=False)
    html = index.read_text()
    srcs = [part.split("'")[0] for part in html.split("<img src='")[1:]]
    pngs = sorted(p.name for p in index.parent.glob("*.png"))
    assert sorted(srcs) == pngs and len(pngs) >= 15
    probed = load_runs(tree, progress=False).configs.set_index("algo").loc["ppo"]
    probed = probed[probed["run_id"] == probes["run_id"].min()].iloc[0]  # the probed PPO run
    ppo = arm_file_name("ppo", probed["setting"])  # its setting: PPO ran four here
    assert ppo.startswith("ppo_") and "lr_anneal" in ppo
    for name in (
        "gradient_pairwise_pendulum",
        "value_mre_heldout_pendulum",
        f"baselines_{ppo}_pendulum",
        f"landscape_surrogate_{ppo}_pendulum",
        "baselines_ppo_m_pendulum",
        "trust_region_probe_pendulum",
        "comparison_pendulum",
    ):
        assert f"{name}.png" in pngs
    for png in pngs:
        _assert_png_ok(index.parent / png)
    assert "Figures not drawn" not in html
    assert (index.parent / "best_lr.csv").exists() and "best_lr.csv" in html
    assert all((index.parent / f"probe_{p}.csv").exists() for p in ("gradient", "value"))
    landscape = pd.read_csv(index.parent / "probe_landscape.csv")
    assert set(landscape["measure"]) == {"rank_vs_largest", "surrogate_rank", "step_gain"}
    assert set(landscape["step_samples"]) == {256, 2048} and "probe_landscape.csv" in html
    # 2 seeds: the held-out selection (seed 0 picks, seed 1 shown) and the blog's, side by side
    held_out, blog = (pd.read_csv(index.parent / f"toggles{s}.csv") for s in ("", "_blog"))
    assert "ablation_ppo_pendulum_blog.png" in pngs and "held-out method" in html
    assert held_out["n_on"].sum() * 2 == blog["n_on"].sum()  # the blog's shows both seeds
    # paired effects: every annealed run against its twin (same lr and seed): 2 lrs x 2 seeds
    pairs = pd.read_csv(index.parent / "toggle_pairs.csv")
    assert set(pairs["toggle"]) == {"opt.lr_anneal"}  # the only toggle varied here
    assert pairs.query("given == 'any'")["n_pairs"].tolist() == [4]
    assert "ablation_pairs_ppo_pendulum.png" in pngs


@pytest.mark.parametrize(
    "left_out, says",
    [(None, "each at the best of 2 learning rates"), ("lr=1e-3", "at the one learning rate run")],
)
def test_the_ablation_title_says_how_many_learning_rates_were_run(sweep, tmp_path, left_out, says):
    tree = tmp_path / "tree"
    shutil.copytree(sweep, tree, ignore=shutil.ignore_patterns(left_out) if left_out else None)
    runs = load_runs(tree, progress=False)
    figures = ablation_figures(runs, analyse(runs, FinalReward()))
    titles = [
        f.fig._suptitle.get_text() for f in figures if not f.name.startswith("ablation_pairs")
    ]
    assert titles and all(says in title for title in titles), titles


def test_the_report_states_the_power_of_every_comparison(sweep, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="analysis"):
        index = make_report(str(sweep), tmp_path / "report", progress=False)
    power = pd.read_csv(index.parent / "power.csv").set_index("comparison")
    row = power.loc["final return, pendulum: ppo_m − ppo"]
    assert row["n"] == 2 and row["unit"] == "seeds per group" and row["min_detectable"] > 0
    assert "tuned agents (held_out), ppo pendulum: opt.lr_anneal on − off" in power.index
    assert (
        "paired effect, ppo pendulum: opt.lr_anneal on − off (any pairs, mean per seed)"
        in power.index
    )
    assert "final return, pendulum: ppo_m − ppo: n=2 seeds per group detects" in caplog.text
    comparison = pd.read_csv(index.parent / "comparison.csv").set_index("algo")
    assert comparison.loc["ppo_m", "mean_interval"] == "t, n=2 seeds"
    assert comparison.loc["ppo_m", "min_detectable"] > 0


def test_with_one_seed_the_report_shows_the_blogs_selection_under_the_plain_names(sweep, tmp_path):
    shutil.copytree(sweep, tmp_path / "tree", ignore=shutil.ignore_patterns("seed=1"))
    index = make_report(str(tmp_path / "tree"), tmp_path / "report", progress=False)
    assert (index.parent / "toggles.csv").exists() and not (
        index.parent / "toggles_blog.csv"
    ).exists()
    assert "ablation_ppo_pendulum.png" in index.read_text()
    assert "Tuned agents: blog method" in index.read_text()


def test_report_warns_about_reruns_and_never_breaks_a_run_id_inside_a_name(sweep, tmp_path):
    original, again, killed = _reruns(sweep, tmp_path / "tree")
    index = make_report(str(tmp_path / "tree"), tmp_path / "report", progress=False)
    html = index.read_text()
    assert "<p class='warn'><b>Warning</b>: 2 run(s) left out" in html
    duplicates = pd.read_csv(index.parent / "duplicates.csv")
    assert sorted(duplicates["run_id"]) == sorted([original, killed])
    comparison = pd.read_csv(index.parent / "comparison.csv").set_index("algo")
    assert comparison.loc["ppo_m", "n"] == 2 and comparison.loc["ppo_m", "setting"] == ONLY_SETTING
    # ids wrap only after a '/': each part sits in a no-wrap span, so a browser cannot break
    # lr=3e-4 after its hyphen
    assert "<span class='nw'>again/</span><wbr><span class='nw'>ppo_m/</span>" in html
    assert "<wbr><span class='nw'>lr=3e-4/</span><wbr>" in html
    assert re.search(r"<td><span class='nw'>\d{4}-\d\d-\d\d </span><wbr>", html)  # dates too
