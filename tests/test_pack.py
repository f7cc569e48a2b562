"""Packed runs: a member of a pack is the run it stands for, and its parts are exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import TINY, make_cfg
from torch import nn

from deep_pg.algorithms.optim import MemberAdam, clip_member_gradients
from deep_pg.networks import GaussianPolicy, StackedPolicy
from deep_pg.runtime.packing import group_into_packs
from deep_pg.trainer import Trainer

TIME_FIELDS = {"wall_time", "iter_time", "sps", "pack_size"}


def test_member_adam_steps_each_member_as_torch_adam_would():
    torch.manual_seed(0)
    lrs, epss = [1e-3, 3e-4, 5e-2], [1e-5, 1e-8, 1e-3]
    stacked = [torch.randn(3, 4, 5, requires_grad=True), torch.randn(3, 1, 5, requires_grad=True)]
    alone = [[p[m].detach().clone().requires_grad_(True) for p in stacked] for m in range(3)]
    ours = MemberAdam(stacked, torch.tensor(lrs), torch.tensor(epss))
    theirs = [torch.optim.Adam(alone[m], lr=lrs[m], eps=epss[m]) for m in range(3)]
    for step in range(20):
        grads = [torch.randn_like(p) for p in stacked]
        if step == 10:  # a schedule: member 1's learning rate halves mid-way
            ours.lr = torch.tensor([lrs[0], lrs[1] / 2, lrs[2]])
            theirs[1].param_groups[0]["lr"] = lrs[1] / 2
        for p, g in zip(stacked, grads):
            p.grad = g.clone()
        ours.step()
        for m in range(3):
            for p, g in zip(alone[m], grads):
                p.grad = g[m].clone()
            theirs[m].step()
    for m in range(3):
        for p, q in zip(stacked, alone[m]):
            torch.testing.assert_close(p[m].detach(), q.detach(), rtol=1e-5, atol=1e-7)


def test_gradient_clipping_uses_each_members_own_norm():
    torch.manual_seed(1)
    grads = [
        torch.randn(3, 6, 4) * torch.tensor([0.1, 5.0, 50.0]).view(3, 1, 1),
        torch.randn(3, 1, 4),
    ]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    max_norm = torch.tensor([1.0, float("inf"), 2.0])  # member 1 does not clip
    norms = clip_member_gradients(params, max_norm)
    for m in range(3):
        alone = [torch.zeros_like(g[m], requires_grad=True) for g in grads]
        for p, g in zip(alone, grads):
            p.grad = g[m].clone()
        expected = nn.utils.get_total_norm([p.grad for p in alone])
        if math.isfinite(max_norm[m]):
            nn.utils.clip_grad_norm_(alone, float(max_norm[m]))
        assert float(norms[m]) == pytest.approx(float(expected), rel=1e-5)
        for p, q in zip(params, alone):
            torch.testing.assert_close(p.grad[m], q.grad, rtol=1e-5, atol=1e-7)


def test_member_adam_clips_on_its_flat_buffer_as_the_parameters_would_be_clipped():
    """MemberAdam keeps gradients in one flat buffer: its clip equals clip_member_gradients on
    the parameters, bit for bit, and the parameters stay views of its buffer."""
    torch.manual_seed(2)
    shapes = [(3, 6, 4), (3, 1, 4), (3, 1, 2)]
    params = [torch.randn(shape, requires_grad=True) for shape in shapes]
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    optimizer = MemberAdam(params, torch.full((3,), 1e-3), torch.full((3,), 1e-5))
    max_norm = torch.tensor([0.5, float("inf"), 2.0])
    for step in range(3):
        optimizer.zero_grad()
        scale = torch.tensor([0.1, 5.0, 50.0]) * (step + 1)
        loss = sum((p.pow(2) * scale.view(3, *[1] * (p.dim() - 1))).sum() for p in params)
        loss.backward()
        for t, p in zip(twins, params):
            t.grad = p.grad.clone()
        assert torch.equal(
            optimizer.clip_gradients(max_norm), clip_member_gradients(twins, max_norm)
        )
        for t, p in zip(twins, params):
            assert torch.equal(p.grad, t.grad)
            assert p.untyped_storage().data_ptr() == optimizer.flat.untyped_storage().data_ptr()
        optimizer.step()


def test_stacked_policy_evaluates_and_exports_each_member():
    gens = [torch.Generator().manual_seed(s) for s in (3, 4)]
    singles = [
        GaussianPolicy(5, 2, [8, 8], "tanh", ortho_init=bool(s), generator=g)
        for s, g in zip((0, 1), gens)
    ]
    stacked = StackedPolicy(singles)
    obs = torch.randn(2, 7, 5)
    actions = torch.randn(2, 7, 2)
    logp = stacked.log_prob(obs, actions)
    for m, single in enumerate(singles):
        torch.testing.assert_close(stacked(obs)[m], single(obs[m]))
        torch.testing.assert_close(logp[m], single.log_prob(obs[m], actions[m]))
        for key, value in single.state_dict().items():
            assert torch.equal(stacked.member(m).state_dict()[key], value)


def _rows(trainer: Trainer, iterations: int) -> list[list[dict]]:
    out = []
    for _ in range(iterations):
        rows, failed = trainer.train_iteration()
        assert not failed
        out.append([{k: v for k, v in r.items() if k not in TIME_FIELDS} for r in rows])
    return out


def _assert_rows_close(packed: dict, alone: dict, rel: float) -> None:
    assert packed.keys() == alone.keys()
    for key, value in alone.items():
        if isinstance(value, float):
            assert packed[key] == pytest.approx(value, rel=rel, abs=1e-6), key
        else:
            assert packed[key] == value, key


MIXED = [  # seeds, two learning rates and several toggles in one pack
    ["seed=0"],
    ["seed=1", "algo.policy_lr=3e-3", "opt.lr_anneal=false", "opt.value_clip=false"],
    ["seed=2", "opt.ortho_init=false", "opt.reward_scaling=none", "opt.grad_clip=0.5"],
]


@pytest.mark.parametrize("algo, rel", [("ppo", 1e-4), ("trpo", 1e-3)])
def test_a_member_is_the_run_it_stands_for(tmp_path, algo, rel):
    """Same initial weights and first rollout bit for bit as the run made alone, and metrics of
    the first three iterations within ``rel`` (relative): batched matrix products may round
    differently in the last bits, which later iterations carry along (TRPO's conjugate gradient
    amplifies them most)."""
    cfgs = [make_cfg(*TINY, f"algo={algo}", *extra) for extra in MIXED]
    pack = Trainer(cfgs, [tmp_path / f"pack{m}" for m in range(3)], workers=2)
    alone = [Trainer([cfg], [tmp_path / f"alone{m}"]) for m, cfg in enumerate(cfgs)]
    try:
        for m, single in enumerate(alone):
            for key, value in single.agent.member(0).policy.state_dict().items():
                assert torch.equal(pack.agent.member(m).policy.state_dict()[key], value)
        policies = {slot: single_policy(t) for slot, t in enumerate(alone)}
        first = pack.sampler.collect(policies, pack.steps_per_env)
        for m, single in enumerate(alone):
            own = single.sampler.collect({0: policies[m]}, single.steps_per_env)[0]
            for field in ("obs", "actions", "rewards", "terminated", "truncated", "final_obs"):
                assert np.array_equal(getattr(first[m], field), getattr(own, field)), field
    finally:
        pack.close()
        for t in alone:
            t.close()
    # Fresh trainers (the collection above advanced the environments).
    pack = Trainer(cfgs, [tmp_path / f"p{m}" for m in range(3)], workers=2)
    alone = [Trainer([cfg], [tmp_path / f"a{m}"]) for m, cfg in enumerate(cfgs)]
    try:
        packed_rows = _rows(pack, 3)
        for m, single in enumerate(alone):
            for it, rows in enumerate(_rows(single, 3)):
                _assert_rows_close(packed_rows[it][m], rows[0], rel=rel)
    finally:
        pack.close()
        for t in alone:
            t.close()


def single_policy(trainer: Trainer):
    from deep_pg.sampling.rollout import PolicyArrays

    policy = trainer.agent.policy
    return PolicyArrays(
        policy.mean.member_arrays(0), policy.log_std.detach()[0, 0].numpy().copy(), "tanh"
    )


def test_trpo_members_each_keep_their_own_kl_bound(tmp_path):
    deltas = [0.002, 0.01, 0.05]
    cfgs = [
        make_cfg(*TINY, "algo=trpo", f"seed={m}", f"algo.max_kl={d}") for m, d in enumerate(deltas)
    ]
    pack = Trainer(cfgs, [tmp_path / str(m) for m in range(3)], workers=0)
    try:
        for rows in _rows(pack, 4):
            for row, delta in zip(rows, deltas):
                assert row["max_kl"] == pytest.approx(delta)
                assert row["kl_reached"] <= delta * (1 + 1e-6)
                assert row["mean_kl"] <= delta * (1 + 1e-4)  # measured after the value fit too
            assert any(row["step_accepted"] for row in rows)
    finally:
        pack.close()


def test_a_member_that_diverges_fails_alone(tmp_path):
    cfgs = [
        make_cfg(*TINY, "seed=0"),
        make_cfg(*TINY, "seed=1", "algo.policy_lr=1e300"),
        make_cfg(*TINY, "seed=2"),
    ]
    pack = Trainer(cfgs, [tmp_path / str(m) for m in range(3)], workers=0)
    alone = Trainer([cfgs[2]], [tmp_path / "alone"])
    try:
        rows, failed = pack.train_iteration()
        assert set(failed) == {1} and "not finite" in failed[1] or "is nan" in failed[1]
        pack.remove_members([1])
        expected = _rows(alone, 1)[0][0]
        _assert_rows_close(
            {k: v for k, v in rows[2].items() if k not in TIME_FIELDS}, expected, 1e-4
        )
        later = _rows(pack, 2)
        for it, rows in enumerate(_rows(alone, 2)):
            _assert_rows_close(later[it][1], rows[0], rel=1e-4)
    finally:
        pack.close()
        alone.close()


def test_packs_group_only_runs_that_can_share_a_process():
    cfgs = [
        make_cfg(*TINY, f"seed={s}", f"algo.policy_lr={lr}") for s in (0, 1) for lr in (1e-3, 3e-4)
    ]
    cfgs += [make_cfg(*TINY, "algo=trpo"), make_cfg(*TINY, "seed=5", "opt.activation=relu")]
    assert group_into_packs(cfgs, 3) == [[0, 1, 2], [3], [4], [5]]
    assert group_into_packs(cfgs, 16) == [[0, 1, 2, 3], [4], [5]]
