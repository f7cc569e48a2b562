"""Members sampled in lockstep (``collect_together``) are bit for bit the members sampled one at a
time with their own normalizer, reward scaler and gymnasium's step, whatever their toggles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_cfg

from deep_pg.algorithms.agents import initial_agent
from deep_pg.envs.mujoco_twins import GymStepper
from deep_pg.experience import Rollout
from deep_pg.sampling.rollout import (
    MemberSampler,
    PolicyArrays,
    collect_together,
)

MEMBERS = [  # toggles that change what the stacked normalizers and scalers compute
    ["seed=0"],
    ["seed=1", "opt.reward_scaling=rewards", "opt.obs_clip=null", "algo.gamma=0.9"],
    ["seed=2", "opt.obs_norm=false", "opt.reward_scaling=none"],
    ["seed=3", "opt.reward_clip=0.5", "opt.obs_clip=0.3", "env.reset_each_iteration=true"],
]
FIELDS = ("obs", "actions", "rewards", "terminated", "truncated", "final_obs")


def _reference_collect(sampler: MemberSampler, policy: PolicyArrays, steps: int) -> Rollout:
    """One member alone, one object call per step: its BatchEnv stepped by gymnasium, its own
    ObservationNormalizer and RewardScaler, the policy's numpy forward."""
    from deep_pg.networks import numpy_mlp

    env, n = sampler.env, sampler.env.num_envs
    env.stepper = GymStepper(env.obs_dim)
    if sampler.reset_each_iteration:
        sampler._restart_unfinished_episodes()
    out = {k: [] for k in FIELDS}
    returns, lengths = [], []
    noise = torch.randn((steps, n, env.act_dim), generator=sampler.generator)
    scaled_noise = (torch.from_numpy(np.exp(policy.log_std)) * noise).numpy()
    forward = numpy_mlp(policy.layers, policy.activation)
    for t in range(steps):
        obs = sampler._obs.astype(np.float32)
        actions = forward(obs) + scaled_noise[t]
        step = env.step(actions)
        end = step.terminated | step.truncated
        out["rewards"].append(sampler.reward_scaler(step.reward, end).astype(np.float32))
        sampler._obs = sampler.obs_normalizer(step.obs)
        final = sampler._obs.copy()
        if end.any():
            final[end] = sampler.obs_normalizer.transform(step.final_obs[end])
        for key, value in (
            ("obs", obs),
            ("actions", actions),
            ("terminated", step.terminated),
            ("truncated", step.truncated),
            ("final_obs", final.astype(np.float32)),
        ):
            out[key].append(value)
        returns += step.episode_returns
        lengths += step.episode_lengths
    return Rollout(
        **{k: np.stack(v) for k, v in out.items()}, episode_returns=returns, episode_lengths=lengths
    )


def _policy(cfg, obs_dim: int, act_dim: int) -> PolicyArrays:
    policy = initial_agent(cfg, obs_dim, act_dim).policy
    with torch.no_grad():  # a state-dependent mean, so that actions pin the observations
        for p in policy.mean.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(cfg.seed)))
    return PolicyArrays.of(policy, "tanh")


@pytest.mark.parametrize("num_envs", [1, 3])
def test_lockstep_members_equal_members_sampled_alone(num_envs):
    cfgs = [
        make_cfg("env=hopper", f"env.num_envs={num_envs}", "env.max_episode_steps=60", *extra)
        for extra in MEMBERS
    ]
    together, alone = [MemberSampler(c) for c in cfgs], [MemberSampler(c) for c in cfgs]
    policies = [_policy(c, 11, 3) for c in cfgs]
    try:
        for _ in range(2):  # two collections: the state handed back carries over
            rollouts = collect_together(together, policies, 80)
            for m, (sampler, policy) in enumerate(zip(alone, policies, strict=True)):
                expected = _reference_collect(sampler, policy, 80)
                for field in FIELDS:
                    assert np.array_equal(getattr(rollouts[m], field), getattr(expected, field)), (
                        m,
                        field,
                    )
                assert rollouts[m].episode_returns == expected.episode_returns
                assert rollouts[m].episode_lengths == expected.episode_lengths
        for a, b in zip(together, alone, strict=True):
            _assert_same_state(a.state_dict(), b.state_dict())
            for env_a, env_b in zip(a.env.envs, b.env.envs, strict=True):
                for field in ("qpos", "qvel", "qacc_warmstart"):
                    assert np.array_equal(getattr(env_a.data, field), getattr(env_b.data, field))
        assert sum(len(r.episode_returns) for r in rollouts) > 0
    finally:
        for sampler in together + alone:
            sampler.close()


def _assert_same_state(a, b):
    """Equal values of equal types (a checkpoint written either way is the same checkpoint)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            if key != "data":  # pickled MjData holds timers; the stepped state is compared below
                _assert_same_state(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same_state(x, y)
    elif isinstance(a, np.ndarray | torch.Tensor):
        assert type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert type(a) is type(b) and a == b
