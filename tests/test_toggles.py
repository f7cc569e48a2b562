"""Each code-level optimization toggle does what its name says, and stops doing it when off."""

from __future__ import annotations

import itertools
import json
import logging

import numpy as np
import pytest
import torch
from conftest import TINY, make_cfg, run_cli
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import nn

from deep_pg.algorithms.agents import PackAgent, initial_agent
from deep_pg.algorithms.losses import normalize, value_loss
from deep_pg.algorithms.optim import clip_member_gradients
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.analysis.ablation import config_name
from deep_pg.cli import CONF_DIR
from deep_pg.config import ConfigError, validate
from deep_pg.envs.normalization import RewardScaler, build_normalizers
from deep_pg.networks import GaussianPolicy, ValueNetwork
from deep_pg.run import run_training
from deep_pg.sweep.resolvers import run_subdir
from deep_pg.trainer import Trainer

TIMINGS = ("wall_time", "iter_time", "sps")  # metrics that measure the machine, not the run


def hydra_cfg(*overrides: str):
    """The composed config with Hydra's node, as the sweep-directory resolver sees it."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


# --- opt.lr_anneal ------------------------------------------------------------------------------
@pytest.mark.parametrize("anneal", [True, False])
def test_lr_anneal_decays_linearly_to_zero(anneal):
    cfg = make_cfg(*TINY, f"opt.lr_anneal={anneal}")
    agent = PackAgent.from_agents(
        [initial_agent(cfg, 3, 1)], MemberSettings.from_configs([cfg]), "ppo"
    )
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
    scaler = RewardScaler(num_envs=1, gamma=0.99, mode="returns", clip=None)
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


def feed(scaler: RewardScaler, rewards: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return np.array([scaler(np.array([r]), np.array([e]))[0] for r, e in zip(rewards, ends)])


def test_returns_mode_divides_by_the_std_of_the_returns_seen_so_far():
    rng = np.random.default_rng(2)
    rewards, ends = rng.normal(1.0, 3.0, 50), np.arange(50) % 7 == 6
    returns, ret = [], 0.0
    for r, end in zip(rewards, ends):
        ret = 0.9 * ret + r
        returns.append(ret)
        ret = 0.0 if end else ret
    # statistics include the current step (updated before the transform, as in the reference)
    expected = [rewards[t] / np.std(returns[: t + 1]) for t in range(3, 50)]
    got = feed(RewardScaler(1, 0.9, mode="returns", clip=None), rewards, ends)
    assert got[3:] == pytest.approx(expected, rel=1e-3)


def test_rewards_mode_scales_the_spread_around_the_running_mean_of_raw_rewards():
    rng = np.random.default_rng(3)
    rewards = rng.normal(4.0, 2.0, 50)
    ends = np.arange(50) % 7 == 6  # episode ends do not matter to this mode
    seen = [rewards[: t + 1] for t in range(3, 50)]
    expected = [(s[-1] - s.mean()) / s.std() + s.mean() for s in seen]
    got = feed(RewardScaler(1, 0.99, mode="rewards", clip=None), rewards, ends)
    assert got[3:] == pytest.approx(expected, rel=1e-3)
    assert np.mean(got[10:]) == pytest.approx(np.mean(rewards[10:]), rel=0.2)  # mean kept
    assert np.std(got[10:]) == pytest.approx(1.0, rel=0.3)


@pytest.mark.parametrize("mode", ["returns", "rewards"])
def test_reward_clip_bounds_the_scaled_rewards(mode):
    rewards = np.random.default_rng(4).normal(0.0, 5.0, 200)
    got = feed(RewardScaler(1, 0.99, mode=mode, clip=0.5), rewards, np.zeros(200, bool))
    free = feed(RewardScaler(1, 0.99, mode=mode, clip=None), rewards, np.zeros(200, bool))
    assert np.array_equal(got, np.clip(free, -0.5, 0.5)) and np.abs(free).max() > 0.5


def test_reward_scaling_none_leaves_rewards_and_its_clip_is_inactive():
    raw = np.array([-50.0, 3.0, 50.0])
    for clip in (None, 10.0):
        scaler = RewardScaler(3, 0.99, mode="none", clip=clip)
        assert np.array_equal(scaler(raw, np.zeros(3, bool)), raw)


@pytest.mark.parametrize("mode", ["returns", "rewards", "none"])
def test_reward_scaling_takes_its_modes_and_names_the_run_directory_by_them(mode):
    cfg = make_cfg(f"opt.reward_scaling={mode}")
    validate(cfg)
    assert cfg.opt.reward_scaling == mode
    assert run_subdir(_root_=hydra_cfg(f"opt.reward_scaling={mode}")).startswith(
        f"ppo/hopper/opt=1{'0' if mode == 'none' else '1'}11/"
    )


@pytest.mark.parametrize("typed", ["true", "false"])
def test_reward_scaling_is_a_mode_not_a_bool(typed):
    with pytest.raises(ConfigError, match=r"'opt.reward_scaling': '(True|False)' \(allowed: retu"):
        validate(make_cfg(f"opt.reward_scaling={typed}"))


def test_reward_scaling_rewards_gets_its_own_run_directory():
    returns = run_subdir(_root_=hydra_cfg("opt.reward_scaling=returns"))
    rewards = run_subdir(_root_=hydra_cfg("opt.reward_scaling=rewards"))
    assert returns == "ppo/hopper/opt=1111/lr=4.5e-4/seed=0"
    assert rewards == "ppo/hopper/opt=1111/lr=4.5e-4/opt.reward_scaling=rewards/seed=0"


def test_ablation16_still_gives_16_distinct_run_directories():
    params = OmegaConf.to_container(hydra_cfg("+sweep=ablation16").hydra.sweeper.params)
    keys, choices = zip(*((k, str(v).split(",")) for k, v in params.items()))
    dirs = {
        run_subdir(_root_=hydra_cfg("+sweep=ablation16", *map("{}={}".format, keys, combo)))
        for combo in itertools.product(*choices)
    }
    assert len(dirs) == 16 and all("/opt=" in d for d in dirs)


@pytest.mark.parametrize(
    "stored,bit",
    [("none", "0"), ("returns", "1"), ("rewards", "1")],
)
def test_analysis_reads_reward_scaling_none_as_off(stored, bit):
    row = {
        "opt.lr_anneal": True,
        "opt.reward_scaling": stored,
        "opt.ortho_init": False,
        "opt.value_clip": True,
    }
    assert config_name(row) == f"opt=1{bit}01"


def test_bad_reward_scaling_is_one_line_naming_the_key_and_the_modes(tmp_path):
    with pytest.raises(ConfigError, match=r"'opt.reward_scaling': 'sometimes' \(allowed: returns"):
        validate(make_cfg("opt.reward_scaling=sometimes"))
    proc = run_cli(
        *TINY, "opt.reward_scaling=sometimes", "hydra.run.dir=run", cwd=tmp_path, check=False
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("deep-pg: error:")]
    assert proc.returncode == 2 and len(errors) == 1
    assert "'opt.reward_scaling'" in errors[0] and "returns | rewards | none" in errors[0]


# --- clipping belongs to the normalization ------------------------------------------------------
def test_inactive_clips_are_said_once_in_the_log(caplog):
    cfg = make_cfg(
        *TINY,
        "opt.reward_scaling=none",
        "opt.reward_clip=1",
        "opt.obs_norm=false",
        "opt.obs_clip=5",
    )
    with caplog.at_level(logging.INFO, logger="deep_pg"):
        obs_norm, scaler = build_normalizers(cfg, obs_dim=3)
    said = [r.getMessage() for r in caplog.records if "inactive" in r.getMessage()]
    assert len(said) == 2 and "opt.obs_clip=5.0" in said[0] and "opt.reward_clip=1.0" in said[1]
    assert scaler.clip is None and obs_norm.clip is None
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="deep_pg"):
        build_normalizers(make_cfg(*TINY), obs_dim=3)  # opt=all: every clip has work to do
    assert not [r for r in caplog.records if "inactive" in r.getMessage()]


def test_with_scaling_and_normalization_off_the_clips_change_nothing(tmp_path):
    off = [*TINY, "opt.reward_scaling=none", "opt.obs_norm=false"]
    run_training(make_cfg(*off, "opt.reward_clip=1", "opt.obs_clip=0.1"), tmp_path / "clips")
    run_training(make_cfg(*off, "opt.reward_clip=null", "opt.obs_clip=null"), tmp_path / "none")

    def metrics(run: str) -> list[dict]:
        rows = [json.loads(x) for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]

    assert len(metrics("clips")) == 4 and metrics("clips") == metrics("none")


# --- opt.ortho_init -----------------------------------------------------------------------------
def test_ortho_init_is_orthogonal_with_layer_scaling():
    torch.manual_seed(0)
    policy = GaussianPolicy(11, 3, [64, 64], "tanh", ortho_init=True)
    value = ValueNetwork(11, [64, 64], "tanh", ortho_init=True)
    *hidden, head = linears(policy)
    for layer in hidden:
        w = (
            layer.weight.detach()
        )  # (out, in) with out >= in or out < in: rows or columns orthonormal
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
    params = [
        p.unsqueeze(0).detach().requires_grad_(True) for p in net.parameters()
    ]  # a pack of one
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
