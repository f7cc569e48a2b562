"""Schedules: the learning rate and TRPO's delta logged at iteration k are the linear formulas
at the fraction of training done before that iteration's update, (k - 1) / N."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, make_cfg

from deep_pg.algorithms.settings import MemberSettings
from deep_pg.trainer import Trainer

ITERATIONS = 4  # TINY: 1024 steps of 256


def logged_rows(*overrides) -> tuple[list[dict], Trainer]:
    trainer = Trainer([make_cfg(*TINY, *overrides)], ["/nonexistent"])
    try:
        rows = [trainer.train_iteration()[0][0] for _ in range(trainer.num_iterations)]
    finally:
        trainer.close()
    assert trainer.num_iterations == ITERATIONS
    return rows, trainer


def test_lr_factor_and_kl_bound_formulas():
    cfgs = [make_cfg("algo=ppo", "opt.lr_anneal=true"), make_cfg("algo=ppo", "opt.lr_anneal=false")]
    settings = MemberSettings.from_configs(cfgs)
    for progress in (0.0, 0.25, 0.6, 1.0):
        assert settings.lr_factor(progress).tolist() == pytest.approx([1.0 - progress, 1.0])
    trpo = MemberSettings.from_configs(
        [make_cfg("algo=trpo", "algo.max_kl=0.04", "algo.max_kl_final=0.07")]
    )
    assert float(trpo.kl_bound(0.3)[0]) == pytest.approx(0.04 + 0.3 * 0.03)


def test_logged_learning_rates_anneal_linearly_from_the_first_iteration():
    rows, trainer = logged_rows(
        "algo=ppo", "opt.lr_anneal=true", "algo.policy_lr=8e-4", "algo.value_lr=4e-4"
    )
    for k, row in enumerate(rows, start=1):
        done = (k - 1) / ITERATIONS  # fraction of training before iteration k's update
        assert row["iteration"] == k
        assert row["policy_lr"] == pytest.approx(8e-4 * (1 - done), rel=1e-6)
        assert row["value_lr"] == pytest.approx(4e-4 * (1 - done), rel=1e-6)
    # The optimizers stepped with the last logged rates.
    assert float(trainer.agent.policy_optimizer.lr[0]) == pytest.approx(rows[-1]["policy_lr"])
    assert float(trainer.agent.value_optimizer.lr[0]) == pytest.approx(rows[-1]["value_lr"])


def test_learning_rates_stay_constant_without_lr_anneal():
    rows, _ = logged_rows("algo=ppo_m", "algo.policy_lr=8e-4", "algo.value_lr=4e-4")
    assert [r["policy_lr"] for r in rows] == pytest.approx([8e-4] * ITERATIONS, rel=1e-6)
    assert [r["value_lr"] for r in rows] == pytest.approx([4e-4] * ITERATIONS, rel=1e-6)


def test_logged_trpo_delta_follows_its_linear_schedule():
    rows, _ = logged_rows("algo=trpo", "algo.max_kl=0.04", "algo.max_kl_final=0.08")
    for k, row in enumerate(rows, start=1):
        assert row["max_kl"] == pytest.approx(0.04 + 0.04 * (k - 1) / ITERATIONS, rel=1e-6)
        assert row["mean_kl"] <= row["max_kl"] * (1 + 1e-6)


def test_schedule_sets_every_members_rates():
    cfgs = [
        make_cfg(*TINY, "opt.lr_anneal=true", "algo.policy_lr=1e-3", "algo.value_lr=2e-3"),
        make_cfg(
            *TINY, "opt.lr_anneal=false", "algo.policy_lr=5e-4", "algo.value_lr=6e-4", "seed=1"
        ),
    ]
    trainer = Trainer(cfgs, ["/nonexistent/a", "/nonexistent/b"], workers=0)
    trainer.close()
    rates = trainer.agent.schedule(0.75)
    assert rates["policy_lr"].tolist() == pytest.approx([0.25e-3, 5e-4])
    assert rates["value_lr"].tolist() == pytest.approx([0.5e-3, 6e-4])
    assert torch.equal(trainer.agent.policy_optimizer.lr, rates["policy_lr"])
    assert torch.equal(trainer.agent.value_optimizer.lr, rates["value_lr"])
