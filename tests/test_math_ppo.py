"""PPO's clipped surrogate and the trust-region metrics at hand-picked ratios, against values
and gradients worked out by hand (not by the code under test)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.losses import normalize, surrogate, surrogate_objective
from deep_pg.algorithms.metrics import explained_variance, trust_region_metrics
from deep_pg.networks import GaussianPolicy

EPS = 0.2


class RatioPolicy(torch.nn.Module):
    """A policy whose log-probability of pair i is the parameter ``log_ratio[i]`` (with
    logp_old = 0 the ratio pi / pi_old is exp(log_ratio)): ratios are set directly."""

    def __init__(self, ratios):
        super().__init__()
        self.log_ratio = torch.nn.Parameter(torch.log(torch.tensor(ratios, dtype=torch.float64)))

    def log_prob(self, obs, actions):
        return self.log_ratio


def _batch(n: int, advantages) -> Batch:
    zeros = torch.zeros(n, dtype=torch.float64)
    return Batch(
        obs=torch.zeros(n, 1),
        actions=torch.zeros(n, 1),
        logp_old=zeros,
        mean_old=None,
        log_std_old=None,
        advantages=torch.tensor(advantages, dtype=torch.float64),
        returns=zeros,
        values_old=zeros,
    )


# (ratio, advantage, the pair's objective min(rA, clip(r, 0.8, 1.2) A), d objective / d ratio)
CASES = [
    (1.5, 2.0, 1.2 * 2.0, 0.0),  # A > 0 above 1 + eps: clipped, no gradient
    (1.3, 2.0, 1.2 * 2.0, 0.0),  # between 1 + eps and 1 + 2 eps: still clipped at 1.2
    (1.1, 2.0, 1.1 * 2.0, 2.0),  # inside the interval: r A
    (0.5, 2.0, 0.5 * 2.0, 2.0),  # A > 0 below 1 - eps: the unclipped r A is the minimum
    (0.5, -3.0, 0.8 * -3.0, 0.0),  # A < 0 below 1 - eps: clipped at 0.8, no gradient
    (0.7, -3.0, 0.8 * -3.0, 0.0),
    (1.5, -3.0, 1.5 * -3.0, -3.0),  # A < 0 above 1 + eps: the unclipped r A is the minimum
    (0.9, -3.0, 0.9 * -3.0, -3.0),
]


def test_surrogate_values_and_zero_gradient_where_clipped():
    ratios, advantages, expected, slopes = (list(x) for x in zip(*CASES, strict=True))
    policy = RatioPolicy(ratios)
    batch = _batch(len(CASES), advantages)
    values = surrogate(policy, batch, batch.advantages, EPS)
    assert values.detach().numpy() == pytest.approx(expected, rel=1e-6)
    values.sum().backward()
    # d/d log r = r * d/d r
    grad = policy.log_ratio.grad.numpy()
    assert grad == pytest.approx([r * s for r, s in zip(ratios, slopes, strict=True)], abs=1e-12)


def test_surrogate_without_a_clip_is_the_ratio_times_the_advantage():
    ratios, advantages, _, _ = (list(x) for x in zip(*CASES, strict=True))
    policy = RatioPolicy(ratios)
    batch = _batch(len(CASES), advantages)
    values = surrogate(policy, batch, batch.advantages, float("inf"))
    products = [r * a for r, a in zip(ratios, advantages, strict=True)]
    assert values.detach().numpy() == pytest.approx(products, rel=1e-12)
    values.sum().backward()
    assert policy.log_ratio.grad.numpy() == pytest.approx(products, rel=1e-12)  # r * dS/dr


def test_surrogate_clips_each_member_at_its_own_eps():
    ratios = [[1.5, 0.5], [1.5, 0.5]]
    policy = RatioPolicy(ratios)
    batch = _batch(2, [1.0, -1.0])
    batch.logp_old = torch.zeros(2, 2, dtype=torch.float64)
    values = surrogate(policy, batch, batch.advantages.expand(2, 2), torch.tensor([0.1, 0.3]))
    assert values.detach().numpy() == pytest.approx(np.array([[1.1, -0.9], [1.3, -0.7]]), rel=1e-6)


class Settings:
    """What surrogate_objective reads of MemberSettings."""

    def __init__(self, adv_norm, clip_eps):
        self.adv_norm, self.clip_eps = adv_norm, clip_eps


def test_surrogate_objective_is_the_mean_over_pairs_of_normalized_advantages():
    ratios = [1.5, 1.3, 1.1, 0.5, 0.5, 0.7, 1.5, 0.9]
    advantages = [2.0, 0.5, 1.0, 3.0, -1.0, -3.0, -0.5, 4.0]
    policy = RatioPolicy(ratios)
    batch = _batch(len(CASES), advantages)
    a = np.array(advantages)
    normalized = (a - a.mean()) / a.std(ddof=1)
    r = np.array(ratios)
    expected = np.minimum(r * normalized, np.clip(r, 1 - EPS, 1 + EPS) * normalized).mean()
    got = surrogate_objective(policy, batch, Settings(True, EPS)).detach()
    assert float(got) == pytest.approx(expected, rel=1e-6)
    raw = surrogate_objective(policy, batch, Settings(False, EPS)).detach()
    assert float(raw) == pytest.approx(np.minimum(r * a, np.clip(r, 0.8, 1.2) * a).mean(), rel=1e-6)
    per_member = surrogate_objective(
        policy, batch, Settings(torch.tensor([True]), torch.tensor([EPS]))
    ).detach()
    assert per_member.shape == (1,) and float(per_member[0]) == pytest.approx(expected, rel=1e-6)


def test_normalize_standardizes_each_member_with_the_sample_std():
    x = torch.tensor([[1.0, 2.0, 4.0, 9.0], [-3.0, 0.0, 0.0, 7.0]], dtype=torch.float64)
    got = normalize(x, torch.tensor([True, False]))
    row = np.array([1.0, 2.0, 4.0, 9.0])
    assert got[0].numpy() == pytest.approx((row - 4.0) / row.std(ddof=1), rel=1e-7)
    assert torch.equal(got[1], x[1])
    assert torch.equal(normalize(x, False), x)
    single = torch.tensor([5.0])
    assert torch.equal(normalize(single, True), single)  # one pair: nothing to standardize by


def test_trust_region_metrics_match_the_gaussian_formulas():
    """mean KL(pi_old || pi), max ratio and the fraction of pairs with |ratio - 1| > eps, from
    scipy's normal densities and the closed-form Gaussian KL."""
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, [8], "tanh", ortho_init=False).double()
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([-0.4, 0.3], dtype=torch.float64))
    rng = np.random.default_rng(1)
    n = 400
    obs = torch.from_numpy(rng.normal(size=(n, 3)))
    mean_new = policy(obs).detach().numpy()
    mean_old = mean_new + rng.normal(scale=0.3, size=(n, 2))
    log_std_old = np.array([0.0, 0.1])
    actions = mean_old + np.exp(log_std_old) * rng.normal(size=(n, 2))
    logp_old = stats.norm.logpdf(actions, mean_old, np.exp(log_std_old)).sum(1)
    batch = Batch(
        obs,
        torch.from_numpy(actions),
        torch.from_numpy(logp_old),
        torch.from_numpy(mean_old),
        torch.from_numpy(log_std_old),
        None,
        torch.zeros(n, dtype=torch.float64),
        torch.zeros(n, dtype=torch.float64),
    )
    metrics = trust_region_metrics(policy, batch, EPS)

    std_new, std_old = np.exp([-0.4, 0.3]), np.exp(log_std_old)
    ratio = np.exp(stats.norm.logpdf(actions, mean_new, std_new).sum(1) - logp_old)
    kl = (
        np.log(std_new / std_old)
        + (std_old**2 + (mean_old - mean_new) ** 2) / (2 * std_new**2)
        - 0.5
    ).sum(1)
    clip_frac = np.mean(np.abs(ratio - 1) > EPS)
    assert 0.2 < clip_frac < 0.9  # the case is informative: some pairs on each side
    assert float(metrics["clip_frac"]) == pytest.approx(clip_frac, abs=1e-6)
    assert float(metrics["max_ratio"]) == pytest.approx(ratio.max(), rel=1e-9)
    assert float(metrics["mean_kl"]) == pytest.approx(kl.mean(), rel=1e-9)
    assert float(trust_region_metrics(policy, batch, 1.0)["clip_frac"]) == pytest.approx(
        np.mean(np.abs(ratio - 1) > 1.0), abs=1e-6
    )


def test_explained_variance_is_one_minus_residual_over_target_variance():
    returns = torch.tensor([[1.0, 2.0, 4.0, 7.0], [3.0, 3.0, 3.0, 3.0]], dtype=torch.float64)
    values = torch.tensor([[1.5, 1.0, 4.0, 8.0], [0.0, 1.0, 2.0, 3.0]], dtype=torch.float64)
    got = explained_variance(values, returns)
    r, v = np.array([1.0, 2.0, 4.0, 7.0]), np.array([1.5, 1.0, 4.0, 8.0])
    assert float(got[0]) == pytest.approx(1 - np.var(r - v, ddof=1) / np.var(r, ddof=1), rel=1e-12)
    assert math.isnan(float(got[1]))  # targets without spread: undefined
    one_run = explained_variance(values[0], returns[0])  # a single run's (B,) tensors
    assert float(one_run) == pytest.approx(float(got[0]), rel=1e-12)


def test_a_ratio_of_one_is_never_counted_as_clipped():
    """clip_frac counts pairs strictly outside [1 - eps, 1 + eps]: unchanged policies report 0
    even at eps = 0."""
    torch.manual_seed(3)
    policy = GaussianPolicy(2, 1, [4], "tanh", ortho_init=False)
    obs, actions = torch.randn(10, 2), torch.randn(10, 1)
    with torch.no_grad():
        batch = Batch(
            obs,
            actions,
            policy.log_prob(obs, actions),
            policy(obs),
            policy.log_std.clone(),
            None,
            torch.zeros(10),
            torch.zeros(10),
        )
    metrics = trust_region_metrics(policy, batch, 0.0)
    assert float(metrics["clip_frac"]) == 0.0 and float(metrics["max_ratio"]) == 1.0
    assert float(metrics["mean_kl"]) == 0.0
