"""TRPO's KL and line search against the closed-form KL of diagonal Gaussians written here,

    KL(p || q) = sum_i log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2,

p = pi_old (the batch's means and log std), q = the current policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY, log_density, make_cfg, numpy_policy

from deep_pg.algorithms import trpo
from deep_pg.algorithms.batch import Batch
from deep_pg.networks import GaussianPolicy, StackedPolicy, gaussian_kl
from deep_pg.trainer import Trainer


def closed_form_kl(mean_p, std_p, mean_q, std_q) -> np.ndarray:
    """KL(p || q) per state, summed over action dimensions."""
    return (np.log(std_q / std_p) + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * std_q**2) - 0.5).sum(
        -1
    )


def test_gaussian_kl_is_the_closed_form_from_old_to_new():
    rng = np.random.default_rng(0)
    mean_p, mean_q = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    log_std_p, log_std_q = np.array([0.5, -0.2, 0.0]), np.array([-0.7, 0.3, 0.1])
    got = gaussian_kl(*(torch.from_numpy(x) for x in (mean_p, log_std_p, mean_q, log_std_q)))
    expected = closed_form_kl(mean_p, np.exp(log_std_p), mean_q, np.exp(log_std_q))
    reverse = closed_form_kl(mean_q, np.exp(log_std_q), mean_p, np.exp(log_std_p))
    assert got.numpy() == pytest.approx(expected, rel=1e-12)
    assert np.abs(expected - reverse).min() > 0.05  # the direction matters in this case
    same = gaussian_kl(*(torch.from_numpy(x) for x in (mean_p, log_std_p, mean_p, log_std_p)))
    assert same.numpy() == pytest.approx(np.zeros(6), abs=1e-15)


def test_mean_kl_of_each_member_is_the_closed_form_mean_over_its_states():
    torch.manual_seed(0)
    policy = StackedPolicy(
        [GaussianPolicy(3, 2, [8], "tanh", ortho_init=False) for _ in range(2)]
    ).double()
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([[[-0.6, 0.2]], [[0.4, -0.1]]], dtype=torch.float64))
    rng = np.random.default_rng(1)
    obs = torch.from_numpy(rng.normal(size=(2, 50, 3)))
    mean_new = policy(obs).detach().numpy()
    mean_old = mean_new + rng.normal(scale=0.5, size=mean_new.shape)
    log_std_old = np.array([[[0.3, -0.4]], [[-0.5, 0.6]]])
    batch = Batch(
        obs,
        None,
        None,
        torch.from_numpy(mean_old),
        torch.from_numpy(log_std_old),
        None,
        torch.zeros(2, 50),
        torch.zeros(2, 50),
    )
    got = trpo.mean_kl(policy, batch).detach().numpy()
    std_new = np.exp(policy.log_std.detach().numpy())
    expected = closed_form_kl(mean_old, np.exp(log_std_old), mean_new, std_new).mean(-1)
    reverse = closed_form_kl(mean_new, std_new, mean_old, np.exp(log_std_old)).mean(-1)
    assert got == pytest.approx(expected, rel=1e-10)
    assert np.abs(expected - reverse).min() > 0.1 * expected.min()


def test_accepted_step_reports_its_closed_form_kl_and_surrogate_gain():
    trainer = Trainer([make_cfg(*TINY, "algo=trpo", "algo.max_kl=0.02")], ["/nonexistent"])
    try:
        _, batch = trainer.collect()
    finally:
        trainer.close()
    old = trainer.agent.policy.member(0)
    metrics = trpo.trpo_update(trainer.agent, batch, trainer.cfg, [trainer.members[0].rng])
    new = trainer.agent.policy.member(0)
    assert bool(metrics["step_accepted"][0])

    b = batch.member(0)
    obs, actions = b.obs.double().numpy(), b.actions.double().numpy()
    mean_old, std_old = numpy_policy(old)
    mean_new, std_new = numpy_policy(new)
    kl = closed_form_kl(mean_old(obs), std_old, mean_new(obs), std_new).mean()
    assert 0 < kl <= 0.02
    assert float(metrics["kl_reached"][0]) == pytest.approx(kl, rel=1e-4)
    assert float(metrics["max_kl"][0]) == pytest.approx(0.02)

    a = b.advantages.double().numpy()
    a = (a - a.mean()) / a.std(ddof=1)  # opt.adv_norm (on for TRPO as in the reference)
    ratio = np.exp(
        log_density(actions, mean_new(obs), std_new) - log_density(actions, mean_old(obs), std_old)
    )
    assert float(metrics["policy_loss"][0]) == pytest.approx(-a.mean(), abs=1e-6)
    gain = (ratio * a).mean() - a.mean()
    assert float(metrics["surrogate_improvement"][0]) == pytest.approx(gain, rel=1e-3)

    def flat(p):
        return torch.cat([x.detach().reshape(-1) for x in p.parameters()]).double()

    step = float((flat(new) - flat(old)).norm())
    assert float(metrics["step_norm"][0]) == pytest.approx(step, rel=1e-4)
