"""Probes end to end on Pendulum: estimates converge, baselines rank as the paper finds, the
landscape's origin is the policy's return, probing changes nothing in training, and the
`deep-pg-probe` entry point re-runs probes on kept checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY, make_cfg, read_results, run_cli

from deep_pg.networks import flat_parameters
from deep_pg.probes import baselines, gradient, landscape, value
from deep_pg.probes.context import ProbeContext
from deep_pg.probes.results import MEAN_TRIAL
from deep_pg.probes.stats import cosine_similarity, pairwise_cosine
from deep_pg.probes.surrogate import surrogate_gradient
from deep_pg.probes.truth import true_sample
from deep_pg.sampling import ParallelSampler
from deep_pg.trainer import Trainer

# Small nets and exact Monte-Carlo returns (the time limit is terminal) keep these fast.
SMALL = [
    *TINY,
    "algo.hidden_sizes=[16]",
    "env.timeout_bootstrap=false",
    "probe.bootstrap_resamples=50",
]
PROBE_SMALL = [
    "probe.sample_counts=[64,256]",
    "probe.num_estimates=3",
    "probe.true_samples=2048",
    "probe.value_fit_samples=4096",
    "probe.landscape_samples=[400]",
    "probe.landscape_grid=2",
    "probe.landscape_step_samples=[256]",
    "probe.envs_per_worker=4",
    "probe.bootstrap_resamples=50",
]


@pytest.fixture(scope="module")
def sampler():
    with ParallelSampler("Pendulum-v1", None, num_workers=2, envs_per_worker=8) as s:
        yield s


def context(sampler, tmp_path, *overrides) -> ProbeContext:
    cfg = make_cfg(*SMALL, *overrides)
    trainer = Trainer([cfg], [tmp_path])
    view = trainer.view(0)  # a run as probes see it (a pack of one's only member)
    ctx = ProbeContext(
        cfg,
        view.agent,
        view.obs_normalizer,
        view.reward_scaler,
        view.iteration,
        view.num_iterations,
        sampler,
    )
    trainer.close()
    return ctx


def test_gradient_estimates_converge_to_the_true_gradient(sampler, tmp_path):
    ctx = context(sampler, tmp_path, "probe.true_samples=131072")
    counts = [64, 16384]
    trials = ctx.collect_trials(6, *gradient.trial_layout(ctx, counts), ctx.agent.policy, "t")
    estimates = gradient.gradient_estimates(ctx, trials, counts)
    truth = true_sample(ctx).batch
    true_gradient = surrogate_gradient(ctx.agent.policy, truth, ctx.cfg)
    to_true = [
        np.mean([cosine_similarity(e, true_gradient) for e in estimates[:, c]]) for c in range(2)
    ]
    pairwise = [pairwise_cosine(estimates[:, c]).mean() for c in range(2)]
    assert to_true[1] > 0.5 and to_true[1] > to_true[0] + 0.2, to_true
    assert pairwise[1] > 0.3 and pairwise[1] > pairwise[0] + 0.2, pairwise


def test_gradient_probe_reports_the_truths_reliability_and_the_corrected_similarity(
    sampler, tmp_path
):
    ctx = context(
        sampler,
        tmp_path,
        "probe.sample_counts=[64,256]",
        "probe.num_estimates=3",
        "probe.true_samples=65536",
    )  # halves of 32768 pairs: enough to agree
    df = pd.DataFrame(gradient.run(ctx))
    for variant in ("gradient", "step"):
        part = df[df.variant == variant]
        (rho_half,) = part[part.measure == "truth_halves"].value
        (rho,) = part[part.measure == "truth_reliability"].value
        assert rho == pytest.approx(2 * rho_half / (1 + rho_half))
        assert part[part.measure == "truth_halves"].num_pairs.item() == 32768
        raw = part[(part.measure == "true") & (part.trial >= 0)].value.to_numpy()
        corrected = part[(part.measure == "true_corrected") & (part.trial >= 0)].value.to_numpy()
        expected = raw / np.sqrt(rho) if rho > 0 else np.full_like(raw, np.nan)  # no reliable truth
        assert len(raw) == 6 and np.allclose(corrected, expected, equal_nan=True)
        assert variant == "step" or rho > 0  # the gradient halves agree; the steps may not
        means = part[(part.measure == "pairwise") & (part.trial == MEAN_TRIAL)]
        assert (
            len(means) == 2
            and (means.ci_low <= means.value).all()
            and (means.value <= means.ci_high).all()
        )


def test_value_probe_reports_both_definitions(sampler, tmp_path):
    ctx = context(sampler, tmp_path, "probe.num_estimates=2", "probe.heldout_samples=256")
    df = pd.DataFrame(value.run(ctx))
    assert set(df.measure) == {"gae", "returns", "ref_returns", "ref_gae_sq"}
    assert set(df.variant) == {"train", "heldout"}
    assert (df.groupby(["variant", "measure"]).size() == 2).all() and np.isfinite(df.value).all()
    # Pendulum never terminates: the reference scores every state but the time-limit steps
    ref = df[(df.measure == "ref_returns") & (df.variant == "heldout")]
    assert (ref.num_pairs <= ref.sample_count).all() and (
        ref.num_pairs > 0.9 * ref.sample_count
    ).all()


def test_true_value_baseline_beats_no_baseline(sampler, tmp_path):
    ctx = context(sampler, tmp_path, "probe.value_fit_samples=32768")
    counts = [16384]
    trials = ctx.collect_trials(6, *gradient.trial_layout(ctx, counts), ctx.agent.policy, "b")
    true_value, fit_mre = baselines.fit_true_value(ctx)
    similarity = {
        name: pairwise_cosine(
            gradient.gradient_estimates(ctx, trials, counts, value, base)[:, 0]
        ).mean()
        for name, value, base in (("true", true_value, "value"), ("zero", ctx.agent.value, "zero"))
    }
    assert np.isfinite(fit_mre)  # MRE is large here: Pendulum's returns near the time limit are ~0
    assert similarity["true"] > similarity["zero"] + 0.1, similarity


def test_landscape_origin_is_the_current_policy_return(sampler, tmp_path):
    ctx = context(
        sampler,
        tmp_path,
        "probe.landscape_grid=2",
        "probe.landscape_samples=[400]",
        "probe.landscape_step_samples=[256]",
    )
    before = flat_parameters(ctx.agent.policy).clone()
    rows = landscape.run(ctx)
    origin = [
        r
        for r in rows
        if r["measure"] == "return" and r["step_coef"] == 0 and r["random_coef"] == 0
    ]
    stats = landscape.policy_return(
        ctx, ctx.agent.policy, 400, ctx.seed("landscape/return", 256, 0, 0, 400)
    )
    assert len(origin) == 1 and origin[0]["value"] == pytest.approx(stats.returns.mean(), rel=1e-12)
    surrogate_origin = [
        r
        for r in rows
        if r["measure"] == "surrogate" and r["step_coef"] == 0 and r["random_coef"] == 0
    ]
    assert surrogate_origin[0]["value"] == pytest.approx(0.0, abs=1e-5)  # E[ratio 1 * A_hat] = 0
    far = [r for r in rows if r["measure"] == "return" and r["step_coef"] > 0]
    assert all(r["value"] != origin[0]["value"] for r in far)
    assert torch.equal(flat_parameters(ctx.agent.policy), before)


def metrics_without_timing(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [
        {k: v for k, v in row.items() if k not in ("wall_time", "iter_time", "sps")} for row in rows
    ]


def test_probing_leaves_training_unchanged_and_checkpoints_can_be_reprobed(tmp_path):
    from deep_pg.run import run_training

    plain, probed = tmp_path / "plain", tmp_path / "probed"
    run_training(make_cfg(*SMALL), plain)
    run_training(make_cfg(*SMALL, "probe=all", "probe.iterations=[0,2]", *PROBE_SMALL), probed)
    assert metrics_without_timing(plain) == metrics_without_timing(probed)
    a = torch.load(plain / "checkpoints/last.pt", weights_only=False)["agent"]["policy"]
    b = torch.load(probed / "checkpoints/last.pt", weights_only=False)["agent"]["policy"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    for name in ("gradient", "value", "baselines", "landscape", "trust_region"):
        df = read_results(probed, name)
        assert sorted(df.iteration.unique()) == [0, 2] and (df.trial == MEAN_TRIAL).any()
        # a corrected similarity is NaN where the truth's halves disagree (rho_N <= 0)
        assert np.isfinite(df[df.measure != "true_corrected"].value).all(), name
    assert sorted(p.name for p in (probed / "checkpoints").iterdir()) == [
        "iter_0.pt",
        "iter_2.pt",
        "last.pt",
        "prev.pt",
    ]

    # the entry point finds what training measured (identical settings) and does nothing; with
    # force=true it re-runs the probe on the kept checkpoint and reproduces it
    before = read_results(probed, "trust_region")
    args = [
        sys.executable,
        "-m",
        "deep_pg.probe_cli",
        f"run_dir={probed}",
        "checkpoint=2",
        "probe=trust_region",
        *PROBE_SMALL,
        "logger.mode=disabled",
    ]
    skipped = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert skipped.returncode == 0 and "nothing to do" in skipped.stdout + skipped.stderr
    proc = subprocess.run(
        [*args, "force=true"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "trust_region at iteration 2 ->" in proc.stdout
    after = read_results(probed, "trust_region")
    assert len(after) == len(before)
    assert np.allclose(after[after.iteration == 2].value, before[before.iteration == 2].value)


@pytest.mark.parametrize(
    "args, message",
    [
        (["checkpoint=7", "probe=value"], "invalid value for 'checkpoint': 7"),
        (["checkpoint=0", "probe=value", "probe.sample_counts=[]"], "'probe.sample_counts'"),
        (["checkpoint=0", "probe=value", "seed=3"], "'seed'"),
    ],
)
def test_probe_cli_rejects_bad_input_in_one_line(tmp_path, args, message):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    if "checkpoint=0" in args:  # a real checkpoint, so the probe settings are what is wrong
        from deep_pg.run import run_training

        run_training(make_cfg(*SMALL, "probe.iterations=[0]"), run_dir)
    proc = subprocess.run(
        [sys.executable, "-m", "deep_pg.probe_cli", f"run_dir={run_dir}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (run_dir / "probes").exists()
    assert not list(tmp_path.rglob("deep_pg_probe.log")), "the job directory is removed"


def test_training_rejects_probe_iterations_beyond_the_run(tmp_path):
    proc = run_cli(
        *SMALL,
        "probe=gradient",
        "probe.iterations=[0,9]",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode != 0 and "'probe.iterations'" in proc.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_probes_at_iteration_0_freeze_the_normalizers_the_first_rollout_leaves(tmp_path):
    """The checkpoint before the first update holds normalizers that have seen one observation
    (standard deviation about 0.01): a probe there replays training's first rollout and freezes
    them as it leaves them, i.e. as iteration 1 starts; later checkpoints keep their own."""
    from deep_pg.probes.checkpoint_view import CheckpointView
    from deep_pg.probes.normalizers import probe_normalizers
    from deep_pg.run import run_training

    cfg = make_cfg(*SMALL, "probe.iterations=[0,1]")
    run_training(cfg, tmp_path)
    first, second = (
        torch.load(tmp_path / f"checkpoints/iter_{i}.pt", weights_only=False) for i in (0, 1)
    )
    assert first["obs_normalizer"]["stats"]["count"] < 2  # the empty state a probe must not use

    def stats(obs_normalizer, reward_scaler):
        return obs_normalizer.stats.state_dict(), reward_scaler.stats.state_dict()

    def saved(state):
        return state["obs_normalizer"]["stats"], state["reward_scaler"]["stats"]

    for state, expected in ((first, second), (second, second)):
        got = stats(*probe_normalizers(CheckpointView(cfg, tmp_path, state)))
        for ours, theirs in zip(got, saved(expected)):
            assert ours["count"] == theirs["count"]
            assert np.array_equal(ours["mean"], theirs["mean"]) and np.array_equal(
                ours["var"], theirs["var"]
            )


def test_a_done_marker_holds_the_settings_that_shape_the_result(tmp_path):
    """A result is done for the settings it was computed with, at any iteration; which probes
    run, when and in how many shards is no setting."""
    from deep_pg.probes import done

    cfg = make_cfg(*SMALL, "probe=value")
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "value.parquet").write_bytes(b"")  # a table exists
    for iteration in (0, 2):
        assert not done.table_complete(tmp_path, "value", iteration, cfg.probe)
        done.mark_done(tmp_path, "value", iteration, cfg.probe)
        marker = tmp_path / f"probes/done/value_iter_{iteration}.json"
        assert json.loads(marker.read_text()) == done.settings(cfg.probe)
        for same in ("probe.iterations=[0,2,3]", "probe.shards=4"):
            assert done.table_complete(
                tmp_path, "value", iteration, make_cfg(*SMALL, "probe=value", same).probe
            )
        other = make_cfg(*SMALL, "probe=value", "probe.heldout_samples=512").probe
        assert not done.table_complete(tmp_path, "value", iteration, other)
