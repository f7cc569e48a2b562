"""The probes' math on hand-made inputs: similarities, MRE, bootstrap, returns, KL, validation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from conftest import TINY, make_cfg, read_results

from deep_pg.algorithms.batch import Batch, make_batch
from deep_pg.algorithms.metrics import trust_region_metrics
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.bootstrap import bootstrap_ci
from deep_pg.config import ConfigError, validate
from deep_pg.experience import Rollout
from deep_pg.networks import GaussianPolicy, ValueNetwork
from deep_pg.probes.context import mc_returns
from deep_pg.probes.results import MEAN_TRIAL, with_means, write_results
from deep_pg.probes.stats import (
    corrected_cosine,
    cosine_similarity,
    mean_relative_error,
    pairwise_bootstrap_ci,
    pairwise_cosine,
    spearman_brown,
)
from deep_pg.probes.surrogate import surrogate_gradient, surrogate_value
from deep_pg.probes.value import squared_relative_error, stream_returns


def test_cosine_of_identical_estimates_is_one():
    g = torch.randn(5000)
    assert cosine_similarity(g, g) == pytest.approx(1.0, abs=1e-6)
    assert cosine_similarity(g, -2 * g) == pytest.approx(-1.0, abs=1e-6)
    assert np.allclose(pairwise_cosine(g.repeat(10, 1)), 1.0, atol=1e-6)
    assert np.isnan(cosine_similarity(g, torch.zeros(5000)))  # no direction, no similarity


def test_cosine_of_independent_random_vectors_is_near_zero():
    gen = torch.Generator().manual_seed(0)
    estimates = torch.randn(10, 5000, generator=gen)
    # sd of one cosine is 1/sqrt(5000) = 0.014; of the mean over 45 pairs ~0.002
    assert abs(pairwise_cosine(estimates).mean()) < 0.01
    assert abs(cosine_similarity(estimates[0], estimates[1])) < 0.07


def test_pairwise_cosine_is_the_mean_over_the_other_estimates():
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = 1 / np.sqrt(2)
    assert np.allclose(pairwise_cosine(e), [(0 + s) / 2, (0 + s) / 2, (s + s) / 2])


def test_mean_relative_error_formula():
    v = np.array([1.0, 2.0, -3.0, 5.0])
    target = np.array([2.0, 2.0, -1.0, 4.0])
    expected = (0.5 + 0.0 + 2.0 + 0.25) / 4
    assert mean_relative_error(v, target) == pytest.approx(expected)


def test_bootstrap_interval_is_reproducible_and_brackets_the_mean():
    values = np.random.default_rng(0).normal(3.0, 1.0, size=50)
    point, low, high = bootstrap_ci([values], n_resamples=500, seed=1)
    assert (point, low, high) == bootstrap_ci([values], n_resamples=500, seed=1)
    assert point == pytest.approx(values.mean()) and low < point < high
    # roughly mean +- 1.96 sd / sqrt(n)
    assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(50), rel=0.25)
    assert bootstrap_ci([values[:1]], n_resamples=500, seed=1) == (values[0],) * 3  # no spread


@pytest.mark.parametrize("adv_norm", [True, False])
def test_surrogate_gradient_and_value_honour_adv_norm_as_training_does(adv_norm):
    """The probed gradient is that of Eq. 1 with the advantages the update uses: standardized
    with opt.adv_norm, raw without; so is the landscape's surrogate value."""
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, [8], "tanh", ortho_init=False)
    obs, actions, adv = torch.randn(50, 3), torch.randn(50, 2), torch.randn(50) * 3 + 1
    adv_hat = (adv - adv.mean()) / (adv.std() + 1e-8) if adv_norm else adv
    logp_old = policy.log_prob(obs, actions).detach()
    objective = (torch.exp(policy.log_prob(obs, actions) - logp_old) * adv_hat).mean()
    expected = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(objective, list(policy.parameters()))]
    )
    batch = Batch(
        obs, actions, logp_old, policy(obs).detach(), policy.log_std.detach(), adv, adv, adv
    )
    cfg = make_cfg(*TINY, f"opt.adv_norm={adv_norm}")
    got = surrogate_gradient(policy, batch, cfg)
    assert torch.allclose(got, expected, atol=1e-6)
    assert all(p.grad is None for p in policy.parameters())  # no side effect on .grad
    # at the current policy every ratio is 1: the objective is the mean advantage the update sees
    assert surrogate_value(policy, batch, cfg) == pytest.approx(float(adv_hat.mean()), abs=1e-6)


def test_mc_returns_exact_at_terminal_and_tail_rule_elsewhere():
    gamma = 0.5
    rewards = np.ones((6, 2))
    terminated = np.zeros((6, 2), bool)
    truncated = np.zeros((6, 2), bool)
    terminated[2, 0] = True  # stream 0: episode of 3 steps, then 3 steps cut by the data's end
    truncated[3, 1] = True  # stream 1: time limit after 4 steps
    returns, valid = mc_returns(
        rewards, terminated, truncated, gamma, timeout_bootstrap=True, tail=2
    )
    assert np.allclose(returns[:3, 0], [1.75, 1.5, 1.0])
    assert valid[:3, 0].all()
    assert valid[3:, 0].tolist() == [True, True, False]  # 3 and 2 observed steps >= tail; then 1
    assert valid[:4, 1].tolist() == [True, True, True, False]
    # with env.timeout_bootstrap=false the time limit is terminal: every return there is exact
    _, valid = mc_returns(rewards, terminated, truncated, gamma, timeout_bootstrap=False, tail=10)
    assert valid[:4, 1].all() and not valid[4:, 1].any()


def test_kl_of_identical_policies_is_zero_and_max_ratio_one():
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, [8], "tanh", ortho_init=True)
    value = ValueNetwork(3, [8], "tanh", ortho_init=True)
    t, n = 20, 2
    rng = np.random.default_rng(0)
    rollout = Rollout(
        rng.normal(size=(t, n, 3)).astype(np.float32),
        rng.normal(size=(t, n, 2)).astype(np.float32),
        rng.normal(size=(t, n)).astype(np.float32),
        np.zeros((t, n), bool),
        np.zeros((t, n), bool),
        rng.normal(size=(t, n, 3)).astype(np.float32),
    )
    batch = make_batch(rollout, policy, value, 0.99, 0.95, True, "value")
    metrics = trust_region_metrics(policy, batch, 0.2)
    assert metrics["mean_kl"] == pytest.approx(0.0, abs=1e-7)
    assert metrics["max_ratio"] == pytest.approx(1.0, abs=1e-6)


def test_mean_rows_carry_the_bootstrap_interval(tmp_path):
    rows = [
        {
            "iteration": 3,
            "probe": "gradient",
            "variant": "gradient",
            "measure": "pairwise",
            "sample_count": 100,
            "num_pairs": 100,
            "trial": k,
            "value": v,
        }
        for k, v in enumerate([0.1, 0.2, 0.3, 0.4])
    ]
    df = with_means(rows, 200, seed=0)
    mean = df[df.trial == MEAN_TRIAL]
    assert len(mean) == 1 and mean.value.iloc[0] == pytest.approx(0.25)
    assert mean.ci_low.iloc[0] < 0.25 < mean.ci_high.iloc[0]
    write_results(tmp_path, "gradient", 3, df)
    write_results(tmp_path, "gradient", 5, df.assign(iteration=5))
    write_results(tmp_path, "gradient", 3, df)  # a re-run replaces its iteration's rows
    stored = read_results(tmp_path, "gradient")
    assert sorted(stored.iteration.unique()) == [3, 5] and len(stored) == 2 * len(df)
    assert not list((tmp_path / "probes").glob("*.tmp"))


@pytest.mark.parametrize(
    "override, key",
    [
        ("probe.sample_counts=[]", "probe.sample_counts"),
        ("probe.sample_counts=[1000,100]", "probe.sample_counts"),
        ("probe.sample_counts=[2,100]", "probe.sample_counts"),  # < algo.num_minibatches
        ("probe.iterations=[0,5]", "probe.iterations"),  # TINY has 4 iterations
        ("probe.iterations=[2,1]", "probe.iterations"),
        ("probe.landscape_samples=[]", "probe.landscape_samples"),
        ("probe.true_samples=10", "probe.true_samples"),
        ("probe.num_estimates=1", "probe.num_estimates"),
        ("probe.name=gradients", "probe.name"),
    ],
)
def test_bad_probe_settings_name_the_key(override, key):
    cfg = make_cfg(*TINY, "probe=gradient", "probe.iterations=[0,4]", override)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert err.value.key == key and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "probe, shards, allowed",
    [
        ("value", 2, "1 for probe=value (only the gradient, baselines, landscape probes"),
        ("landscape", 50, "an integer in 1..49,"),  # 7 x 7 points at one sample count
        ("all", 0, "an integer in 1.."),
    ],
)
def test_shards_beyond_the_selected_probes_parts_name_the_key(probe, shards, allowed):
    cfg = make_cfg(
        *TINY,
        f"probe={probe}",
        "probe.iterations=[0,4]",
        "probe.landscape_samples=[2000]",
        f"probe.shards={shards}",
    )
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert err.value.key == "probe.shards" and allowed in str(err.value)


def test_shards_may_reach_the_largest_selected_probes_parts():
    cfg = make_cfg(
        *TINY,
        "probe=all",
        "probe.iterations=[0,4]",
        "probe.landscape_samples=[2000]",
        "probe.shards=49",
        "probe.sample_counts=[64,256]",
        "probe.true_samples=2048",
        "probe.part_pairs=256",
    )
    validate(cfg)  # the gradient's truth has 8 parts, the landscape 49


def test_every_probe_option_composes_and_validates():
    for name in ("none", "gradient", "value", "baselines", "landscape", "trust_region", "all"):
        validate(make_cfg(f"probe={name}"))  # the default 1M-step run holds the paper's iterations


def test_pairwise_interval_never_pairs_a_resampled_estimate_with_itself():
    # orthonormal estimates: every pair of distinct estimates has cosine 0; a duplicate paired
    # with itself would add cosines of 1 and lift the interval above 0
    low, high = pairwise_bootstrap_ci(torch.eye(6, 20, dtype=torch.float64), 300, seed=0)
    assert low == 0.0 and high == 0.0


def test_pairwise_interval_covers_the_population_similarity_unlike_the_per_estimate_one():
    rng = np.random.default_rng(0)
    dim, k, sigma = 50, 10, 0.25
    g = np.eye(dim)[0]
    many = g + sigma * rng.normal(size=(4000, dim))  # population value from 2000 independent pairs
    unit = many / np.linalg.norm(many, axis=1, keepdims=True)
    population = float((unit[:2000] * unit[2000:]).sum(axis=1).mean())
    covered = {"estimates": 0, "per_estimate_means": 0}
    repeats = 200
    for r in range(repeats):
        estimates = torch.tensor(g + sigma * rng.normal(size=(k, dim)))
        intervals = {
            "estimates": pairwise_bootstrap_ci(estimates, 500, seed=r),
            "per_estimate_means": bootstrap_ci(
                [pairwise_cosine(estimates)], n_resamples=500, seed=r
            )[1:],
        }
        for name, (low, high) in intervals.items():
            covered[name] += low <= population <= high
    # nominal 95%; measured 0.935 vs 0.59 with these seeds
    assert covered["estimates"] / repeats >= 0.88, covered
    assert covered["per_estimate_means"] / repeats <= 0.75, covered


def test_spearman_brown_and_the_corrected_cosine_recover_the_noise_free_similarity():
    rng = np.random.default_rng(0)
    dim = 2000
    g = torch.tensor(rng.normal(size=dim))
    g /= g.norm()
    noisy = lambda scale: g + scale * torch.tensor(rng.normal(size=dim)) / np.sqrt(dim)
    halves = [noisy(1.2), noisy(1.2)]
    truth = (halves[0] + halves[1]) / 2  # an N-pair truth is the mean of two N/2-pair halves
    rho = spearman_brown(cosine_similarity(*halves))
    # rho_N is the truth's own squared cosine with the noise-free direction (0.58 here)
    assert rho == pytest.approx(cosine_similarity(truth, g) ** 2, abs=0.03)
    estimates = [noisy(1.0) for _ in range(10)]
    raw = np.mean([cosine_similarity(e, truth) for e in estimates])
    corrected = np.mean([corrected_cosine(cosine_similarity(e, truth), rho) for e in estimates])
    exact = np.mean([cosine_similarity(e, g) for e in estimates])
    assert corrected == pytest.approx(exact, abs=0.03)  # measured: 0.716 vs 0.707
    assert exact - raw > 0.1  # the uncorrected cosine is attenuated (0.539)
    assert spearman_brown(1.0) == 1.0 and np.isnan(corrected_cosine(0.3, 0.0))


def test_mean_rows_a_probe_wrote_are_kept():
    base = {
        "iteration": 0,
        "probe": "gradient",
        "variant": "gradient",
        "measure": "pairwise",
        "sample_count": 100,
        "num_pairs": 100,
    }
    rows = [{**base, "trial": k, "value": v} for k, v in enumerate([0.1, 0.3])]
    rows.append({**base, "trial": MEAN_TRIAL, "value": 0.2, "ci_low": -0.5, "ci_high": 0.9})
    mean = with_means(rows, 200, seed=0).query("trial == @MEAN_TRIAL")
    assert len(mean) == 1 and (mean.ci_low.iloc[0], mean.ci_high.iloc[0]) == (-0.5, 0.9)


def test_reference_returns_stop_at_any_episode_end_or_the_stream_end_and_skip_done_steps():
    rewards = np.ones((5, 2))
    terminated, truncated = np.zeros((5, 2), bool), np.zeros((5, 2), bool)
    truncated[1, 0] = True  # a time limit ends the return like a terminal state
    terminated[2, 1] = True
    returns, kept = stream_returns(rewards, terminated, truncated, gamma=0.5)
    assert np.allclose(returns[:, 0], [1.5, 1.0, 1.75, 1.5, 1.0])  # cut at the stream's end
    assert np.allclose(returns[:, 1], [1.75, 1.5, 1.0, 1.5, 1.0])
    assert kept[:, 0].tolist() == [True, False, True, True, True]
    assert kept[:, 1].tolist() == [True, True, False, True, True]


def test_reference_gae_error_is_squared_over_absolute_target_and_clipped_pessimistically():
    unclipped = MemberSettings.from_configs([make_cfg(*TINY, "opt.value_clip=false")])
    clipped = MemberSettings.from_configs(
        [make_cfg(*TINY, "opt.value_clip=true", "algo.value_clip_eps=0.5")]
    )
    predicted, targets, old = np.array([2.0, 0.0]), np.array([1.0, -2.0]), np.array([1.0, -1.0])
    assert squared_relative_error(predicted, targets, old, unclipped) == pytest.approx(
        (1 / 1 + 4 / 2) / 2
    )
    # right on target but 1 away from V_old: the clipped prediction (0.5 away) is what counts
    assert (
        squared_relative_error(np.array([1.0]), np.array([1.0]), np.array([0.0]), clipped) == 0.25
    )
    assert (
        squared_relative_error(np.array([1.0]), np.array([1.0]), np.array([0.0]), unclipped) == 0.0
    )


@pytest.mark.parametrize(
    "overrides, warns",
    [
        (["probe.iterations=[0,4]"], True),  # TINY: 4 iterations, PPO anneals (opt=all)
        (["probe.iterations=[0,3]"], False),
        (["probe.iterations=[0,4]", "opt.lr_anneal=false"], False),
    ],
)
def test_probing_where_the_annealed_learning_rate_is_zero_warns(caplog, overrides, warns):
    with caplog.at_level(logging.WARNING, logger="deep_pg"):
        validate(make_cfg(*TINY, "probe=value", *overrides))
    messages = [r.getMessage() for r in caplog.records if "opt.lr_anneal" in r.getMessage()]
    assert bool(messages) == warns
    assert not warns or "iteration 4" in messages[0]
