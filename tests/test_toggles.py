"""Each code-level optimization toggle does what its name says, and stops doing it when off."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import TINY, make_cfg
from deep_pg.algorithms.common import MemberSettings, PackAgent, initial_agent, normalize, value_loss
from deep_pg.algorithms.optim import clip_member_gradients
from deep_pg.envs.normalization import ObservationNormalizer, RewardScaler
from deep_pg.networks import GaussianPolicy, ValueNetwork
from deep_pg.trainer import Trainer


def linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


# --- opt.lr_anneal ------------------------------------------------------------------------------
@pytest.mark.parametrize("anneal", [True, False])
def test_lr_anneal_decays_linearly_to_zero(anneal):
    cfg = make_cfg(*TINY, f"opt.lr_anneal={anneal}")
    agent = PackAgent.from_agents([initial_agent(cfg, 3, 1)], MemberSettings.from_configs([cfg]), "ppo")
    rates = [float(agent.schedule(it / 4)["policy_lr"][0]) for it in range(4)]
    final = {k: float(v[0]) for k, v in agent.schedule(1.0).items()}
    assert float(agent.policy_optimizer.lr[0]) == pytest.approx(final["policy_lr"])
    lr = cfg.algo.policy_lr
    if anneal:
        assert rates == pytest.approx([lr, 0.75 * lr, 0.5 * lr, 0.25 * lr])
        assert final["policy_lr"] == pytest.approx(0.0, abs=1e-12)
        assert final["value_lr"] == pytest.approx(0.0, abs=1e-12)
    else:
        assert rates == pytest.approx([lr] * 4) and final["policy_lr"] == pytest.approx(lr)


# --- opt.reward_scaling / opt.reward_clip -------------------------------------------------------
def test_reward_scaling_gives_unit_std_returns_and_resets_at_episode_end():
    rng = np.random.default_rng(0)
    scaler = RewardScaler(num_envs=1, gamma=0.99, scale=True, clip=None)
    scaled_return, scaled_returns = 0.0, []
    for t in range(20_000):
        end = (t + 1) % 200 == 0
        r = scaler(np.array([rng.normal(5.0, 2.0)]), np.array([end]))
        scaled_return = 0.99 * scaled_return + r[0]
        scaled_returns.append(scaled_return)
        if end:
            assert scaler.running_return[0] == 0.0  # the running return restarts with the episode
            scaled_return = 0.0
    # rewards are divided (not centered) by the std of the discounted return: after warm-up the
    # discounted return of the scaled rewards has about unit standard deviation
    assert np.std(scaled_returns[2000:]) == pytest.approx(1.0, abs=0.15)
    assert np.mean(scaled_returns[2000:]) > 1.0  # no centering: positive rewards stay positive


def test_reward_scaling_off_leaves_rewards_and_clip_bounds_them():
    raw = np.array([-50.0, 3.0, 50.0])
    assert np.array_equal(RewardScaler(3, 0.99, scale=False, clip=None)(raw, np.zeros(3, bool)), raw)
    clipped = RewardScaler(3, 0.99, scale=False, clip=10.0)(raw, np.zeros(3, bool))
    assert clipped.tolist() == [-10.0, 3.0, 10.0]


# --- opt.obs_norm / opt.obs_clip ----------------------------------------------------------------
def test_obs_norm_standardizes_and_obs_clip_bounds():
    rng = np.random.default_rng(1)
    norm = ObservationNormalizer(2, normalize=True, clip=None)
    out = np.concatenate([norm(rng.normal([10, -3], [5, 0.1], size=(1, 2))) for _ in range(5000)])
    assert np.abs(out[1000:].mean(0)).max() < 0.1 and np.abs(out[1000:].std(0) - 1).max() < 0.1
    clip = ObservationNormalizer(2, normalize=True, clip=0.5)
    out = np.concatenate([clip(rng.normal(0, 3, size=(1, 2))) for _ in range(500)])
    assert np.abs(out).max() <= 0.5 and np.isclose(np.abs(out).max(), 0.5)
    raw = rng.normal(size=(4, 2))
    assert np.array_equal(ObservationNormalizer(2, normalize=False, clip=None)(raw), raw)


def test_frozen_normalizer_does_not_move():
    norm = ObservationNormalizer(2, normalize=True, clip=None)
    norm(np.ones((10, 2)))
    frozen = norm.frozen()
    before = frozen.stats.state_dict()
    frozen(np.full((10, 2), 100.0))
    assert np.array_equal(frozen.stats.mean, before["mean"]) and frozen.stats.count == before["count"]


# --- opt.ortho_init -----------------------------------------------------------------------------
def test_ortho_init_is_orthogonal_with_layer_scaling():
    torch.manual_seed(0)
    policy = GaussianPolicy(11, 3, [64, 64], "tanh", ortho_init=True)
    value = ValueNetwork(11, [64, 64], "tanh", ortho_init=True)
    *hidden, head = linears(policy)
    for layer in hidden:
        w = layer.weight.detach()  # (out, in) with out >= in or out < in: rows or columns orthonormal
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        assert torch.allclose(gram, 2.0 * torch.eye(gram.shape[0]), atol=1e-4)  # gain sqrt(2)
        assert torch.all(layer.bias == 0)
    assert torch.allclose(head.weight @ head.weight.T, 0.01**2 * torch.eye(3), atol=1e-7)
    v_head = linears(value)[-1].weight.detach()
    assert torch.linalg.vector_norm(v_head).item() == pytest.approx(1.0, abs=1e-5)


def test_xavier_init_has_no_layer_scaling():
    torch.manual_seed(0)
    policy = GaussianPolicy(11, 3, [64, 64], "tanh", ortho_init=False)
    for layer in linears(policy):
        fan_out, fan_in = layer.weight.shape
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.8 * bound
        assert torch.all(layer.bias == 0)
    head = linears(policy)[-1].weight
    assert head.std() > 0.1  # not the 0.01-scaled head of the orthogonal scheme


def test_activation_toggle_picks_the_nonlinearity():
    relu = GaussianPolicy(3, 1, [8], "relu", ortho_init=True)
    assert any(isinstance(m, nn.ReLU) for m in relu.modules())
    assert not any(isinstance(m, nn.Tanh) for m in relu.modules())


# --- opt.value_clip -----------------------------------------------------------------------------
def test_clipped_value_loss_equals_the_formula():
    v = torch.tensor([1.0, 5.0, -2.0, 0.0])
    v_old = torch.tensor([0.0, 4.9, 0.0, 3.0])
    returns = torch.tensor([2.0, 0.0, 1.0, 3.0])
    eps = 0.2
    # by hand: max(1, 3.24)=3.24, max(25, 25)=25, max(9, 1.44)=9, max(9, 0.04)=9
    clipped = value_loss(v, v_old, returns, value_clip=True, clip_eps=eps)
    assert clipped.item() == pytest.approx((3.24 + 25 + 9 + 9) / 4, rel=1e-5)
    plain = value_loss(v, v_old, returns, value_clip=False, clip_eps=eps)
    assert plain.item() == pytest.approx((1 + 25 + 9 + 9) / 4, rel=1e-6)


# --- opt.grad_clip / opt.adv_norm ---------------------------------------------------------------
def test_grad_clip_bounds_the_global_norm():
    net = nn.Linear(10, 10)
    net(torch.randn(32, 10)).pow(2).sum().mul(100).backward()
    params = [p.unsqueeze(0).detach().requires_grad_(True) for p in net.parameters()]  # a pack of one
    for p, q in zip(params, net.parameters()):
        p.grad = q.grad.unsqueeze(0)
    before = float(clip_member_gradients(params, torch.tensor([0.5]))[0])
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in params]))
    assert before > 0.5 and after.item() == pytest.approx(0.5, rel=1e-4)


def _one_ppo_update(*overrides):
    trainer = Trainer([make_cfg(*TINY, *overrides)], ["/nonexistent"])
    (metrics,), _ = trainer.train_iteration()
    trainer.close()
    return metrics, torch.nn.utils.parameters_to_vector(trainer.agent.policy.parameters())


def test_grad_clip_changes_the_ppo_update():
    _, free = _one_ppo_update()
    _, clipped = _one_ppo_update("opt.grad_clip=0.01")
    assert not torch.allclose(free, clipped)


def test_adv_norm_standardizes_only_when_on():
    adv = torch.tensor([1.0, 2.0, 3.0, 10.0])
    out = normalize(adv, enabled=True)
    assert out.mean().abs() < 1e-6 and out.std().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.equal(normalize(adv, enabled=False), adv)
