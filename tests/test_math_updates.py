"""The first step of each update rule, against the loss written here and Adam's first step.

From fresh Adam moments, one step moves each parameter by exactly -lr * g / (|g| + eps) (the
bias corrections cancel), so one minibatch of one epoch pins the loss an update differentiates:
PG's E[log pi * A], PPO's surrogate (whose gradient at ratio 1 is PG's), the entropy bonus, the
value loss, advantage normalization and the gradient clip.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import make_cfg

from deep_pg.algorithms.agents import PackAgent, initial_agent
from deep_pg.algorithms.batch import Batch, make_pack_batch, minibatches
from deep_pg.algorithms.losses import normalize, value_errors
from deep_pg.algorithms.metrics import nonfinite_members
from deep_pg.algorithms.pg import pg_update
from deep_pg.algorithms.ppo import ppo_update
from deep_pg.algorithms.registry import run_update
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.algorithms.value_fit import fit_value
from deep_pg.experience import Rollout

OBS, ACT, STEPS, ENVS = 3, 2, 24, 2
ONE_STEP = [
    "env=pendulum",
    "algo.epochs=1",
    "algo.value_epochs=1",
    "algo.num_minibatches=1",
    "algo.policy_lr=0.01",
    "algo.value_lr=0.02",
    "algo.adam_eps=1e-5",
    "algo.entropy_coef=0.05",
    "algo.steps_per_iter=48",
    "env.num_envs=2",
]


def _rollout(seed: int) -> Rollout:
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    truncated = np.zeros((STEPS, ENVS), bool)
    truncated[10, 0] = True
    terminated = np.zeros((STEPS, ENVS), bool)
    terminated[15, 1] = True
    return Rollout(
        f32(STEPS, ENVS, OBS),
        f32(STEPS, ENVS, ACT),
        f32(STEPS, ENVS),
        terminated,
        truncated,
        f32(STEPS, ENVS, OBS),
    )


def _pack(*overrides):
    cfg = make_cfg(*ONE_STEP, *overrides)
    agent = PackAgent.from_agents(
        [initial_agent(cfg, OBS, ACT)], MemberSettings.from_configs([cfg]), cfg.algo.family
    )
    s = agent.settings
    batch = make_pack_batch(
        [_rollout(cfg.seed)],
        agent.policy,
        agent.value,
        s.gamma,
        s.gae_lambda,
        s.timeout_bootstrap,
        cfg.algo.baseline,
    )
    return cfg, agent, batch


def _params(module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def _mlp(params: dict[str, torch.Tensor], prefix: str, x: torch.Tensor) -> torch.Tensor:
    """The stacked MLP of ``params`` (``{prefix}weights.i`` (M, in, out), ``{prefix}biases.i``),
    tanh between layers."""
    layers = sum(1 for name in params if name.startswith(f"{prefix}weights."))
    for i in range(layers):
        x = torch.baddbmm(params[f"{prefix}biases.{i}"], x, params[f"{prefix}weights.{i}"])
        if i < layers - 1:
            x = torch.tanh(x)
    return x


def _log_density(params, obs, actions):
    """log N(a; mu(s), sigma) summed over action dims."""
    log_std = params["log_std"]
    z = (actions - _mlp(params, "mean.", obs)) / torch.exp(log_std)
    return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def _adam_first_step(params, grads, lr, eps, coef=1.0):
    return {
        name: p - lr * (coef * grads[name]) / ((coef * grads[name]).abs() + eps)
        for name, p in params.items()
    }


def _clip_coef(grads, max_norm):
    norm = float(torch.sqrt(sum((g**2).sum() for g in grads.values())))
    return (1.0 if max_norm is None else min(1.0, max_norm / (norm + 1e-6))), norm


def _step(params, loss_fn, lr, eps, max_norm):
    """Parameters after one Adam step on ``loss_fn(params)``, the loss and the gradient norm."""
    params = {name: p.requires_grad_(True) for name, p in params.items()}
    loss = loss_fn(params)
    grads = dict(zip(params, torch.autograd.grad(loss.sum(), list(params.values())), strict=True))
    coef, norm = _clip_coef(grads, max_norm)
    after = _adam_first_step({k: p.detach() for k, p in params.items()}, grads, lr, eps, coef)
    return after, float(loss.detach().sum()), norm


def _policy_expectation(agent, batch, cfg, max_norm=None):
    """One Adam step on -E[log pi * A] (PG) or -E[ratio * A] (PPO at ratio 1, where the clip is
    inactive: the same gradient), minus c * entropy; A normalized with opt.adv_norm."""
    a = batch.advantages
    if cfg.opt.adv_norm:
        a = (a - a.mean(-1, keepdim=True)) / a.std(-1, keepdim=True)

    def loss(params):
        logp = _log_density(params, batch.obs, batch.actions)
        weight = logp if cfg.algo.family == "pg" else torch.exp(logp - batch.logp_old)
        entropy = (params["log_std"][:, 0] + 0.5 * (math.log(2 * math.pi) + 1)).sum(-1)
        return -(weight * a).mean(-1) - cfg.algo.entropy_coef * entropy

    return _step(_params(agent.policy), loss, cfg.algo.policy_lr, cfg.algo.adam_eps, max_norm)


def _value_expectation(agent, batch, cfg, max_norm=None):
    """One Adam step on E[(V - R)^2]."""

    def loss(params):
        return ((_mlp(params, "net.", batch.obs).squeeze(-1) - batch.returns) ** 2).mean(-1)

    return _step(_params(agent.value), loss, cfg.algo.value_lr, cfg.algo.adam_eps, max_norm)


def _assert_params(module, expected):
    for name, got in module.named_parameters():
        torch.testing.assert_close(got.detach(), expected[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("update,algo", [(pg_update, "pg"), (ppo_update, "ppo")])
@pytest.mark.parametrize(
    "overrides,max_norm",
    [
        ([], None),
        (["opt.grad_clip=1e-3", "opt.adv_norm=false"], 1e-3),
    ],
)
def test_first_step_is_adam_on_the_documented_losses(update, algo, overrides, max_norm):
    cfg, agent, batch = _pack(f"algo={algo}", "opt.value_clip=false", *overrides)
    policy_after, policy_loss, grad_norm = _policy_expectation(agent, batch, cfg, max_norm)
    value_after, value_loss, _ = _value_expectation(agent, batch, cfg, max_norm)
    metrics = update(agent, batch, cfg, [np.random.default_rng(0)])
    _assert_params(agent.policy, policy_after)
    _assert_params(agent.value, value_after)
    assert float(metrics["policy_loss"][0]) == pytest.approx(policy_loss, rel=1e-4, abs=1e-6)
    assert float(metrics["value_loss"][0]) == pytest.approx(value_loss, rel=1e-5)
    assert float(metrics["policy_grad_norm"][0]) == pytest.approx(grad_norm, rel=1e-4)


@pytest.mark.parametrize("epochs,value_epochs", [(3, 2), (2, 3)])
def test_ppo_runs_its_epochs_and_minibatches_and_averages_their_losses(epochs, value_epochs):
    cfg, agent, batch = _pack(
        "algo=ppo",
        f"algo.epochs={epochs}",
        f"algo.value_epochs={value_epochs}",
        "algo.num_minibatches=4",
    )
    metrics = ppo_update(agent, batch, cfg, [np.random.default_rng(0)])
    assert agent.policy_optimizer.steps == epochs * 4
    assert agent.value_optimizer.steps == value_epochs * 4
    assert set(metrics) == {"policy_loss", "value_loss", "policy_grad_norm"}
    # Later minibatches see the moved policy, so the mean loss is not the first step's.
    assert all(torch.isfinite(v).all() and v.shape == (1,) for v in metrics.values())


def test_run_update_schedules_the_rates_then_updates():
    cfg, agent, batch = _pack("algo=ppo", "opt.lr_anneal=true")
    metrics = run_update(agent, batch, cfg, [np.random.default_rng(0)], progress=0.75)
    assert float(metrics["policy_lr"][0]) == pytest.approx(0.01 * 0.25)
    assert float(metrics["value_lr"][0]) == pytest.approx(0.02 * 0.25)
    assert "policy_loss" in metrics and agent.policy_optimizer.steps == 1
    cfg, agent, batch = _pack("algo=trpo", "algo.max_kl=0.01", "algo.max_kl_final=0.03")
    metrics = run_update(agent, batch, cfg, [np.random.default_rng(0)], progress=0.5)
    assert float(metrics["max_kl"][0]) == pytest.approx(0.02)
    assert "policy_lr" not in metrics and agent.policy_optimizer is None


def test_nonfinite_members_names_the_member_and_the_reason():
    cfgs = [make_cfg(*ONE_STEP, "algo=ppo"), make_cfg(*ONE_STEP, "algo=ppo", "seed=1")]
    agent = PackAgent.from_agents(
        [initial_agent(c, OBS, ACT) for c in cfgs], MemberSettings.from_configs(cfgs), "ppo"
    )
    finite = {"policy_loss": torch.tensor([1.0, 2.0]), "value_loss": torch.tensor([0.5, 0.5])}
    assert nonfinite_members(agent, finite) == {}
    assert nonfinite_members(agent, {"policy_loss": torch.tensor([1.0, float("nan")])}) == {
        1: "policy loss is nan"
    }
    assert nonfinite_members(agent, {"value_loss": torch.tensor([float("inf"), 0.0])}) == {
        0: "value loss is inf"
    }
    with torch.no_grad():
        agent.value.net.weights[0][1, 0, 0] = float("nan")
    assert nonfinite_members(agent, finite) == {1: "value parameter 'net.weights.0' is not finite"}
    with torch.no_grad():
        agent.policy.log_std[0, 0, 1] = float("inf")
    assert nonfinite_members(agent, finite) == {
        0: "policy parameter 'log_std' is not finite",
        1: "value parameter 'net.weights.0' is not finite",
    }


def test_batch_views_select_gather_member_and_pack_of_one():
    _, agent, batch = _pack("algo=ppo")
    n = len(batch)
    assert n == STEPS * ENVS and batch.obs.shape == (1, n, OBS)
    part = batch.select(slice(2, 5))
    assert torch.equal(part.advantages, batch.advantages[:, 2:5])
    assert torch.equal(part.obs, batch.obs[:, 2:5]) and part.log_std_old is batch.log_std_old
    idx = torch.tensor([[4, 0, 7]])
    gathered = batch.gather(idx)
    assert torch.equal(gathered.actions[0], batch.actions[0, [4, 0, 7]])
    assert torch.equal(gathered.returns[0], batch.returns[0, [4, 0, 7]])
    single = batch.member(0)
    assert single.obs.shape == (n, OBS) and single.log_std_old.shape == (ACT,)
    assert torch.equal(single.logp_old, batch.logp_old[0])
    back = single.as_pack()
    assert back.log_std_old.shape == (1, 1, ACT)
    for name in Batch.PER_PAIR:
        assert torch.equal(getattr(back, name), getattr(batch, name)), name
    targets = Batch.value_targets(batch.obs[0], batch.returns[0])
    assert targets.actions is None and torch.equal(targets.values_old, torch.zeros(n))
    assert len(targets) == n and len(targets.select(slice(0, 3))) == 3


def test_pack_batch_holds_pi_old_and_v_old_of_each_pair():
    _, agent, batch = _pack("algo=ppo")
    rollout = _rollout(0)
    obs = torch.from_numpy(rollout.obs.reshape(1, -1, OBS))
    actions = torch.from_numpy(rollout.actions.reshape(1, -1, ACT))
    assert torch.equal(batch.obs, obs) and torch.equal(batch.actions, actions)
    with torch.no_grad():
        logp = _log_density(_params(agent.policy), obs, actions)
        torch.testing.assert_close(batch.logp_old, logp)
        torch.testing.assert_close(batch.mean_old, agent.policy(obs))
        torch.testing.assert_close(batch.values_old, agent.value(obs))
    assert torch.equal(batch.log_std_old, agent.policy.log_std.detach())
    assert batch.advantages.dtype == torch.float32 and batch.returns.dtype == torch.float32
    assert not batch.mean_old.requires_grad and not batch.log_std_old.requires_grad


def _two_members(algo: str):
    cfgs = [
        make_cfg(*ONE_STEP, f"algo={algo}"),
        make_cfg(*ONE_STEP, f"algo={algo}", "seed=1", "algo.policy_lr=0.003"),
    ]
    agent = PackAgent.from_agents(
        [initial_agent(c, OBS, ACT) for c in cfgs],
        MemberSettings.from_configs(cfgs),
        cfgs[0].algo.family,
    )
    s = agent.settings
    batch = make_pack_batch(
        [_rollout(0), _rollout(1)],
        agent.policy,
        agent.value,
        s.gamma,
        s.gae_lambda,
        s.timeout_bootstrap,
        cfgs[0].algo.baseline,
    )
    return cfgs, agent, batch


def test_pg_loss_is_reported_per_member():
    cfgs, agent, batch = _two_members("pg")
    expected = []
    for m in range(2):
        single = batch.member(m).as_pack()
        params = {k: v[m : m + 1] for k, v in _params(agent.policy).items()}
        a = single.advantages
        a = (a - a.mean(-1, keepdim=True)) / a.std(-1, keepdim=True)
        logp = _log_density(params, single.obs, single.actions)
        entropy = (params["log_std"][:, 0] + 0.5 * (math.log(2 * math.pi) + 1)).sum(-1)
        expected.append(float(-(logp * a).mean(-1) - cfgs[m].algo.entropy_coef * entropy))
    metrics = pg_update(agent, batch, cfgs[0], [np.random.default_rng(m) for m in range(2)])
    assert metrics["policy_loss"].tolist() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("algo", ["ppo", "trpo"])
def test_a_members_state_round_trips_through_its_checkpoint_dict(algo):
    """member(m).state_dict() -> load_member(m) restores member m's networks and Adam moments:
    the restored pack then takes exactly the same next update."""
    cfgs, agent, batch = _two_members(algo)
    rngs = lambda: [np.random.default_rng(7), np.random.default_rng(8)]  # noqa: E731
    run_update(agent, batch, cfgs[0], rngs(), progress=0.0)
    states = [agent.member(m).state_dict() for m in range(2)]
    assert set(states[0]) == {"policy", "value", "policy_optimizer", "value_optimizer"}
    assert (states[0]["policy_optimizer"] is None) == (algo == "trpo")
    assert states[1]["value_optimizer"]["steps"] == agent.value_optimizer.steps > 0

    # Into a fresh pack of other seeds, from the dicts; and from the Agent objects themselves.
    fresh = [
        initial_agent(make_cfg(*ONE_STEP, f"algo={algo}", f"seed={10 + m}"), OBS, ACT)
        for m in range(2)
    ]
    restored = PackAgent.from_agents(fresh, agent.settings, cfgs[0].algo.family)
    for m in (1, 0):
        restored.load_member(m, states[m])
    rebuilt = PackAgent.from_agents(
        [agent.member(m) for m in range(2)], agent.settings, cfgs[0].algo.family
    )
    for other in (restored, rebuilt):
        for mine, theirs in zip(agent.policy.parameters(), other.policy.parameters(), strict=True):
            assert torch.equal(mine, theirs)
        for mine, theirs in zip(
            agent.value_optimizer.exp_avg_sq, other.value_optimizer.exp_avg_sq, strict=True
        ):
            assert torch.equal(mine, theirs)
        assert other.value_optimizer.steps == agent.value_optimizer.steps
        if algo == "ppo":
            for mine, theirs in zip(
                agent.policy_optimizer.exp_avg, other.policy_optimizer.exp_avg, strict=True
            ):
                assert torch.equal(mine, theirs)
    run_update(agent, batch, cfgs[0], rngs(), progress=0.5)
    run_update(restored, batch, cfgs[0], rngs(), progress=0.5)
    for mine, theirs in zip(agent.value.parameters(), restored.value.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    for mine, theirs in zip(agent.policy.parameters(), restored.policy.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_minibatches_partition_each_members_pairs_in_its_own_shuffled_order():
    _, agent, batch = _two_members("ppo")
    n = len(batch)
    parts = list(minibatches(batch, 5, [np.random.default_rng(3), np.random.default_rng(4)]))
    assert [len(p) for p in parts] == [len(x) for x in np.array_split(np.arange(n), 5)]
    for m, seed in enumerate((3, 4)):
        order = np.random.default_rng(seed).permutation(n)
        got = torch.cat([p.returns[m] for p in parts])
        assert torch.equal(got, batch.returns[m, order])  # every pair once, in that order
        assert torch.equal(torch.cat([p.obs[m] for p in parts]), batch.obs[m, order])


def test_fit_value_returns_each_members_mean_loss_over_its_steps():
    _, agent, batch = _two_members("ppo")
    losses = fit_value(
        agent,
        batch,
        epochs=2,
        num_minibatches=3,
        rngs=[np.random.default_rng(0), np.random.default_rng(1)],
    )
    assert losses.shape == (2,) and agent.value_optimizer.steps == 6
    assert torch.isfinite(losses).all() and not torch.equal(losses[0], losses[1])


def test_value_errors_clip_the_prediction_on_both_sides_of_the_old_one():
    values = torch.tensor([0.0, 6.0, 3.1])
    old = torch.tensor([3.0, 3.0, 3.0])
    returns = torch.tensor([-1.0, 8.0, 3.0])
    # clipped predictions: 2.8 (from below), 3.2 (from above), 3.1 (inside)
    expected = [max(1.0, 3.8**2), max(4.0, 4.8**2), max(0.01, 0.01)]
    got = value_errors(values, old, returns, value_clip=True, clip_eps=0.2)
    assert got.tolist() == pytest.approx(expected, rel=1e-5)
    plain = value_errors(values, old, returns, value_clip=False, clip_eps=0.2)
    assert plain.tolist() == pytest.approx([1.0, 4.0, 0.01], rel=1e-5)


def test_normalize_two_pairs_and_per_member_switch():
    x = torch.tensor([[1.0, 3.0], [1.0, 3.0]])
    got = normalize(x, torch.tensor([True, False]))
    assert got[0].tolist() == pytest.approx([-(2**-0.5), 2**-0.5], rel=1e-6)  # sample std sqrt(2)
    assert got[1].tolist() == [1.0, 3.0]


@pytest.mark.parametrize("ortho", [True, False])
def test_initial_agent_follows_opt_ortho_init_and_its_seed(ortho):
    cfg = make_cfg("env=pendulum", f"opt.ortho_init={str(ortho).lower()}", "seed=5")
    agent = initial_agent(cfg, OBS, ACT)
    for net in (agent.policy.mean, agent.value.net):
        w = net[0].weight.detach()  # (64, 3): orthogonal columns of norm sqrt(2) with ortho_init
        is_orthogonal = torch.allclose(w.T @ w, 2.0 * torch.eye(OBS), atol=1e-4)
        assert is_orthogonal == ortho
    again = initial_agent(cfg, OBS, ACT)
    other = initial_agent(
        make_cfg("env=pendulum", f"opt.ortho_init={str(ortho).lower()}", "seed=6"), OBS, ACT
    )
    assert torch.equal(again.policy.mean[0].weight, agent.policy.mean[0].weight)
    assert not torch.equal(other.value.net[0].weight, agent.value.net[0].weight)
    assert agent.policy_optimizer is None and agent.value_optimizer is None


def test_a_checkpoint_with_missing_adam_moments_is_refused():
    _, agent, _ = _two_members("ppo")
    state = agent.value_optimizer.member_state(0)
    agent.value_optimizer.load_member_state(1, state)  # a whole state loads
    state["exp_avg_sq"] = state["exp_avg_sq"][:-1]  # one tensor short: not this network's
    with pytest.raises(ValueError):
        agent.value_optimizer.load_member_state(1, state)
