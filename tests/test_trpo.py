"""TRPO: conjugate gradient, Fisher-vector products, the trust region and the line search."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY, make_cfg, run_cli, start_and_kill
from torch.autograd.functional import hessian
from torch.func import functional_call
from torch.nn.utils import parameters_to_vector

from deep_pg.algorithms import trpo
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.networks import GaussianPolicy, StackedPolicy, gaussian_kl
from deep_pg.trainer import Trainer


def test_conjugate_gradient_solves_each_members_spd_system():
    gen = torch.Generator().manual_seed(0)
    systems = []
    for scale in (1.0, 100.0):  # members converge at different speeds
        m = torch.randn(8, 8, generator=gen, dtype=torch.float64)
        systems.append(scale * (m @ m.T + 0.5 * torch.eye(8, dtype=torch.float64)))
    a = torch.stack(systems)
    b = torch.randn(2, 8, generator=gen, dtype=torch.float64)
    x = trpo.conjugate_gradient(lambda v: torch.einsum("mij,mj->mi", a, v), b, steps=8)
    assert torch.allclose(torch.einsum("mij,mj->mi", a, x), b, atol=1e-8)


def _trainer_and_batch(*overrides):
    trainer = Trainer([make_cfg(*TINY, "algo=trpo", *overrides)], ["/nonexistent"])
    _, batch = trainer.collect()
    trainer.close()
    return trainer, batch


def _flat(trainer) -> torch.Tensor:
    return parameters_to_vector(trainer.agent.policy.parameters()).detach().clone()


def test_fisher_vector_product_equals_the_explicit_fisher():
    torch.manual_seed(0)
    policy = StackedPolicy([GaussianPolicy(2, 2, [3], "tanh", ortho_init=True)]).double()
    obs = torch.randn(1, 5, 2, dtype=torch.float64)
    with torch.no_grad():
        mean_old, log_std_old = policy(obs), policy.log_std.clone()
    batch = type("B", (), {"obs": obs, "mean_old": mean_old, "log_std_old": log_std_old})()
    theta = parameters_to_vector(policy.parameters()).detach()
    named = [(name, p.shape) for name, p in policy.named_parameters()]

    def kl_of(flat):
        params, i = {}, 0
        for name, shape in named:
            params[name] = flat[i : i + shape.numel()].view(shape)
            i += shape.numel()
        mean = functional_call(policy, params, (obs,))
        return gaussian_kl(mean_old, log_std_old, mean, params["log_std"]).mean()

    fisher = hessian(kl_of, theta)  # the explicit Fisher: Hessian of the mean KL at pi_old
    v = torch.randn(1, theta.numel(), dtype=torch.float64)
    fvp = trpo.fisher_vector_product(policy, batch, damping=torch.zeros(1, dtype=torch.float64))
    assert torch.allclose(fvp(v)[0], fisher @ v[0], atol=1e-10)
    damped = trpo.fisher_vector_product(
        policy, batch, damping=torch.full((1,), 0.1, dtype=torch.float64)
    )
    assert torch.allclose(damped(v)[0], fisher @ v[0] + 0.1 * v[0], atol=1e-10)


def test_update_respects_the_kl_bound_and_improves_the_surrogate():
    trainer, batch = _trainer_and_batch("algo.max_kl=0.01")
    metrics = trpo.trpo_update(trainer.agent, batch, trainer.cfg, [trainer.members[0].rng])
    assert metrics["step_accepted"][0]
    measured = trpo.mean_kl(trainer.agent.policy, batch)[0].item()
    assert measured <= 0.01 and measured == pytest.approx(metrics["kl_reached"][0].item(), rel=1e-5)
    assert metrics["surrogate_improvement"][0] > 0 and metrics["step_norm"][0] > 0


def test_a_step_that_lowers_the_surrogate_is_rejected(monkeypatch):
    trainer, batch = _trainer_and_batch()
    real_cg = trpo.conjugate_gradient
    monkeypatch.setattr(trpo, "conjugate_gradient", lambda *a, **k: -real_cg(*a, **k))
    before = _flat(trainer)
    metrics = trpo.trpo_update(trainer.agent, batch, trainer.cfg, [trainer.members[0].rng])
    assert not metrics["step_accepted"][0] and metrics["step_norm"][0] == 0.0
    assert metrics["linesearch_steps"][0] == trainer.cfg.algo.max_backtracks
    assert torch.equal(_flat(trainer), before)


def test_kl_schedule_is_linear():
    cfg = make_cfg("algo=trpo", "algo.max_kl=0.1", "algo.max_kl_final=0.02")
    settings = MemberSettings.from_configs([cfg])
    assert [float(settings.kl_bound(p)[0]) for p in (0.0, 0.5, 1.0)] == pytest.approx(
        [0.1, 0.06, 0.02]
    )


def test_trpo_plus_honours_grad_clip():
    """opt.grad_clip clips TRPO+'s value-network steps. On the policy it rescales g, and the
    natural step is rescaled to the trust region anyway, so only rounding-level changes remain."""

    def update(*overrides):
        trainer, batch = _trainer_and_batch("algo=trpo_plus", *overrides)
        trpo.trpo_update(trainer.agent, batch, trainer.cfg, [trainer.members[0].rng])
        return _flat(trainer), parameters_to_vector(trainer.agent.value.parameters()).detach()

    (_, value), (_, value_clipped) = update(), update("opt.grad_clip=1e-4")
    assert not torch.allclose(value, value_clipped)


@pytest.mark.parametrize("algo,env", [("trpo", "pendulum"), ("trpo_plus", "hopper")])
def test_short_trpo_runs_end_to_end_and_resume(tmp_path, algo, env):
    args = [*TINY, f"algo={algo}", f"env={env}", "total_steps=2560", "checkpoint.every=2"]
    run_cli(*args, "hydra.run.dir=ref", cwd=tmp_path)
    start_and_kill(
        *args, "hydra.run.dir=run", cwd=tmp_path, run_dir=tmp_path / "run", after_iterations=3
    )
    run_cli(*args, "hydra.run.dir=run", cwd=tmp_path)
    ref = [json.loads(x) for x in (tmp_path / "ref/metrics.jsonl").read_text().splitlines()]
    got = [json.loads(x) for x in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    keys = ["iteration", "env_steps", "mean_kl", "step_accepted", "value_loss", "return_mean"]
    assert [[r[k] for k in keys] for r in got] == [[r[k] for k in keys] for r in ref]
    assert all(r["mean_kl"] <= r["max_kl"] for r in got)
