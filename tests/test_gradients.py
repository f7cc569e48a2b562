"""The written-out PPO gradients (deep_pg.algorithms.gradients) against autograd on the loss
functions they stand for, for every toggle that shapes them, member by member in one pack."""

from __future__ import annotations

import pytest
import torch
from conftest import make_cfg

from deep_pg.algorithms.agents import PackAgent, initial_agent
from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.gradients import policy_loss_and_gradients, value_loss_and_gradients
from deep_pg.algorithms.losses import surrogate_objective, value_loss
from deep_pg.algorithms.settings import MemberSettings

OBS, ACT, PAIRS = 5, 2, 48

# Members of one pack that differ in every setting the two losses read.
MEMBERS = [
    [],
    ["algo=ppo_noclip"],  # no ratio clip
    ["opt=none"],  # no value clip, no advantage normalization, Xavier init
    ["opt.value_clip=false", "algo.entropy_coef=0.01"],
    ["algo.clip_eps=0.05", "algo.value_clip_eps=0.01", "seed=3"],
]


def _pack(members, activation="tanh") -> PackAgent:
    cfgs = [
        make_cfg("algo=ppo", f"opt.activation={activation}", "algo.hidden_sizes=[16,8]", *m)
        for m in members
    ]
    agents = [initial_agent(cfg, OBS, ACT) for cfg in cfgs]
    return PackAgent.from_agents(agents, MemberSettings.from_configs(cfgs), "ppo")


def _batch(agent: PackAgent, seed: int) -> Batch:
    """A minibatch whose old policy and values lie near the current ones, as after a few steps:
    ratios on both sides of every clip range, value steps inside and outside theirs."""
    g = torch.Generator().manual_seed(seed)
    m = agent.num_members
    obs = torch.randn(m, PAIRS, OBS, generator=g)
    actions = torch.randn(m, PAIRS, ACT, generator=g)
    with torch.no_grad():
        logp = agent.policy.log_prob(obs, actions)
        values = agent.value(obs)
    noise = lambda scale: scale * torch.randn(m, PAIRS, generator=g)
    return Batch(
        obs=obs,
        actions=actions,
        logp_old=logp + noise(0.2),
        mean_old=None,
        log_std_old=None,
        advantages=noise(1.0),
        returns=values + noise(1.0),
        values_old=values + noise(0.3),
    )


def _autograd(loss: torch.Tensor, params) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss.sum(), list(params)))


def _perturb(agent: PackAgent, seed: int) -> None:
    """Move every parameter off its initial value (zero biases, log std 0 hide terms)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*agent.policy.parameters(), *agent.value.parameters()]:
            p.add_(0.1 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("seed", [0, 1])
def test_written_out_gradients_are_autograds(activation, seed):
    agent = _pack(MEMBERS, activation)
    _perturb(agent, seed)
    mb, s = _batch(agent, seed), agent.settings
    policy_params = list(agent.policy.parameters())
    value_params = list(agent.value.parameters())

    expected_policy = -surrogate_objective(agent.policy, mb, s) - s.entropy_coef * (
        agent.policy.entropy()
    )
    expected_value = value_loss(
        agent.value(mb.obs), mb.values_old, mb.returns, s.value_clip, s.value_clip_eps
    )
    policy_loss, policy_grads = policy_loss_and_gradients(agent.policy, mb, s)
    value_loss_, value_grads = value_loss_and_gradients(agent.value, mb, s)

    assert torch.equal(policy_loss, expected_policy.detach())
    assert torch.equal(value_loss_, expected_value.detach())
    pairs = [
        *zip(policy_grads, _autograd(expected_policy, policy_params), strict=True),
        *zip(value_grads, _autograd(expected_value, value_params), strict=True),
    ]
    for ours, theirs in pairs:
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_the_batch_reaches_every_branch_of_the_losses():
    """The test's minibatch has ratios clipped on both sides and value steps clipped, so the
    comparison above covers each branch of min/max and clamp."""
    agent = _pack(MEMBERS[:1])
    _perturb(agent, 0)
    mb = _batch(agent, 0)
    with torch.no_grad():
        ratio = torch.exp(agent.policy.log_prob(mb.obs, mb.actions) - mb.logp_old)
        step = agent.value(mb.obs) - mb.values_old
    assert (ratio > 1.2).any() and (ratio < 0.8).any() and ((ratio - 1).abs() < 0.2).any()
    assert (step.abs() > 0.2).any() and (step.abs() < 0.2).any()
