"""Config -> training: every field of MemberSettings read from the key it is documented to come
from, and the advantages training learns from made with each run's own algo.gamma and
algo.gae_lambda (checked against make_batch and a GAE recursion written here)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from conftest import TINY, make_cfg

from deep_pg.algorithms.batch import make_batch
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.trainer import Trainer

INF = float("inf")
ALGOS = ["ppo", "ppo_m", "ppo_noclip", "trpo", "trpo_plus", "pg"]

# Every numeric setting a different value, so that reading one key for another shows.
DISTINCT = [
    "algo.policy_lr=1.1e-4",
    "algo.value_lr=2.2e-4",
    "algo.adam_eps=3.3e-6",
    "algo.value_clip_eps=0.44",
    "algo.entropy_coef=0.055",
    "algo.max_kl=0.066",
    "algo.cg_damping=0.077",
    "algo.gamma=0.88",
    "algo.gae_lambda=0.66",
    "opt.grad_clip=0.9",
]
# Booleans in both patterns, so that reading one toggle for another shows.
TOGGLES = [
    [
        "opt.lr_anneal=true",
        "opt.value_clip=false",
        "opt.adv_norm=true",
        "env.timeout_bootstrap=false",
    ],
    [
        "opt.lr_anneal=false",
        "opt.value_clip=true",
        "opt.adv_norm=false",
        "env.timeout_bootstrap=true",
    ],
]


def expected_settings(cfg) -> dict:
    """What each setting means, from the config keys (MemberSettings' documentation)."""
    a, o = cfg.algo, cfg.opt
    return {
        "policy_lr": a.policy_lr,
        "value_lr": a.value_lr,
        "adam_eps": a.adam_eps,
        "lr_anneal": o.lr_anneal,
        "clip_eps": a.clip_eps if a.family == "ppo" and a.clip_eps is not None else INF,
        "report_clip_eps": 0.2 if a.clip_eps is None else a.clip_eps,
        "value_clip": o.value_clip,
        "value_clip_eps": a.value_clip_eps,
        "entropy_coef": a.entropy_coef,
        "grad_clip": INF
        if o.grad_clip is None or (o.grad_clip_scope == "ppo_policy" and a.family == "trpo")
        else o.grad_clip,
        "value_grad_clip": INF
        if o.grad_clip is None or o.grad_clip_scope == "ppo_policy"
        else o.grad_clip,
        "adv_norm": o.adv_norm,
        "max_kl": a.max_kl,
        "max_kl_final": a.max_kl if a.max_kl_final is None else a.max_kl_final,
        "cg_damping": a.cg_damping,
        "gamma": a.gamma,
        "gae_lambda": a.gae_lambda,
        "timeout_bootstrap": cfg.env.timeout_bootstrap,
    }


def assert_settings_match(settings: MemberSettings, cfgs) -> None:
    names = {f.name for f in dataclasses.fields(MemberSettings)}
    for m, cfg in enumerate(cfgs):
        expected = expected_settings(cfg)
        assert set(expected) == names  # a new setting needs its meaning stated here
        for name, value in expected.items():
            got = getattr(settings, name)[m]
            got = got.item() if isinstance(got, (torch.Tensor, np.generic)) else got
            if isinstance(value, bool):
                assert got is value or got == value and type(got) is bool, name
            else:
                assert got == pytest.approx(value, rel=1e-6), (name, cfg.algo.name)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("env", ["hopper", "pendulum"])
def test_settings_of_each_composed_config(algo, env):
    cfg = make_cfg(f"algo={algo}", f"env={env}")
    assert_settings_match(MemberSettings.from_configs([cfg]), [cfg])


@pytest.mark.parametrize("algo", ALGOS)
def test_each_setting_comes_from_its_own_key(algo):
    clip = [] if algo == "ppo_noclip" else ["algo.clip_eps=0.33"]
    cfgs = [
        make_cfg(f"algo={algo}", "env=hopper", *DISTINCT, *clip, *TOGGLES[0]),
        make_cfg(
            f"algo={algo}",
            "env=hopper",
            *TOGGLES[1],
            "algo.max_kl_final=0.011",
            "opt.grad_clip=0.5",
            "opt.grad_clip_scope=ppo_policy",
        ),
    ]
    settings = MemberSettings.from_configs(cfgs)
    assert_settings_match(settings, cfgs)
    # The mapping above, spelled out for the first member: gamma and lambda are not swapped.
    assert (settings.gamma[0], settings.gae_lambda[0]) == (0.88, 0.66)
    assert math.isinf(settings.clip_eps[0]) == (algo not in ("ppo", "ppo_m"))


def _gae(rewards, values, next_values, terminated, truncated, gamma, lam, timeout_bootstrap):
    """GAE of one environment's stream, step by step."""
    advantages, last = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        terminal = terminated[t] or (truncated[t] and not timeout_bootstrap)
        delta = rewards[t] + (0.0 if terminal else gamma * next_values[t]) - values[t]
        if terminated[t] or truncated[t]:
            last = 0.0
        last = delta + gamma * lam * last
        advantages[t] = last
    return advantages


def test_training_advantages_use_each_runs_gamma_and_lambda():
    """A pack of two runs with different gamma, lambda and timeout_bootstrap: each member's
    advantages are make_batch's with its own cfg.algo values, and the GAE recursion's."""
    cfgs = [
        make_cfg(
            *TINY,
            "algo.steps_per_iter=512",
            "algo.gamma=0.8",
            "algo.gae_lambda=0.3",
            "env.timeout_bootstrap=true",
        ),
        make_cfg(
            *TINY,
            "algo.steps_per_iter=512",
            "algo.gamma=0.95",
            "algo.gae_lambda=0.9",
            "env.timeout_bootstrap=false",
            "seed=1",
        ),
    ]
    trainer = Trainer(cfgs, ["/nonexistent/a", "/nonexistent/b"], workers=0)
    try:
        rollouts, batch = trainer.collect()
    finally:
        trainer.close()
    for m, (cfg, rollout) in enumerate(zip(cfgs, rollouts, strict=True)):
        assert rollout.truncated.any()  # Pendulum's 200-step limit falls inside the 512 steps
        agent = trainer.agent.member(m)
        single = make_batch(
            rollout,
            agent.policy,
            agent.value,
            cfg.algo.gamma,
            cfg.algo.gae_lambda,
            cfg.env.timeout_bootstrap,
            cfg.algo.baseline,
        )
        assert torch.allclose(batch.advantages[m], single.advantages, atol=1e-5)
        assert torch.allclose(batch.returns[m], single.returns, atol=1e-5)
        with torch.no_grad():
            values = agent.value(torch.from_numpy(rollout.obs[:, 0])).double().numpy()
            next_values = agent.value(torch.from_numpy(rollout.final_obs[:, 0])).double().numpy()
        expected = _gae(
            rollout.rewards[:, 0].astype(float),
            values,
            next_values,
            rollout.terminated[:, 0],
            rollout.truncated[:, 0],
            cfg.algo.gamma,
            cfg.algo.gae_lambda,
            cfg.env.timeout_bootstrap,
        )
        assert batch.advantages[m].double().numpy() == pytest.approx(expected, abs=1e-4)
        assert batch.returns[m].double().numpy() == pytest.approx(expected + values, abs=1e-4)
