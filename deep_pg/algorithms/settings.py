"""The settings that may differ between the members of a pack, as (M,) tensors: each toggle and
hyperparameter a policy update reads, one entry per member, so one update serves every member."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

NO_CLIP_REPORT_EPS = 0.2  # clip_frac of an algorithm that does not clip is reported at eps = 0.2


def _tensor(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(list(values), dtype=dtype)


def _grad_clip(opt, policy_of: str | None) -> float:
    """opt.grad_clip for the policy network of an algorithm family (``policy_of``) or for the
    value network (None); inf where opt.grad_clip_scope leaves that network unclipped."""
    if opt.grad_clip is None:
        return float("inf")
    if opt.grad_clip_scope == "ppo_policy" and policy_of not in ("ppo", "pg"):
        return float("inf")
    return opt.grad_clip


@dataclass
class MemberSettings:
    """The settings that may differ between the members of a pack, one entry per member.

    ``None`` (off) becomes inf for clips (clip(x, -inf, inf) = x), so a toggle acts in the same
    single place for every member.
    """

    policy_lr: torch.Tensor
    value_lr: torch.Tensor
    adam_eps: torch.Tensor
    lr_anneal: torch.Tensor  # bool: opt.lr_anneal
    clip_eps: torch.Tensor  # PPO's algo.clip_eps; inf = no ratio clip (PPO-NoClip, TRPO, PG)
    report_clip_eps: torch.Tensor  # the eps clip_frac is measured at
    value_clip: torch.Tensor  # bool: opt.value_clip
    value_clip_eps: torch.Tensor
    entropy_coef: torch.Tensor
    grad_clip: torch.Tensor  # opt.grad_clip of the policy network, inf = off
    value_grad_clip: torch.Tensor  # opt.grad_clip of the value network, inf = off
    adv_norm: torch.Tensor  # bool: opt.adv_norm
    max_kl: torch.Tensor  # TRPO delta at the start ...
    max_kl_final: torch.Tensor  # ... and at the end (= max_kl without a schedule)
    cg_damping: torch.Tensor
    gamma: np.ndarray
    gae_lambda: np.ndarray
    timeout_bootstrap: np.ndarray  # bool

    @classmethod
    def from_configs(cls, cfgs: Sequence) -> MemberSettings:
        inf = float("inf")
        a = [c.algo for c in cfgs]
        o = [c.opt for c in cfgs]
        return cls(
            policy_lr=_tensor(x.policy_lr for x in a),
            value_lr=_tensor(x.value_lr for x in a),
            adam_eps=_tensor(x.adam_eps for x in a),
            lr_anneal=_tensor((x.lr_anneal for x in o), torch.bool),
            clip_eps=_tensor(
                x.clip_eps if x.family == "ppo" and x.clip_eps is not None else inf for x in a
            ),
            report_clip_eps=_tensor(
                NO_CLIP_REPORT_EPS if x.clip_eps is None else x.clip_eps for x in a
            ),
            value_clip=_tensor((x.value_clip for x in o), torch.bool),
            value_clip_eps=_tensor(x.value_clip_eps for x in a),
            entropy_coef=_tensor(x.entropy_coef for x in a),
            grad_clip=_tensor(_grad_clip(x, policy_of=alg.family) for x, alg in zip(o, a)),
            value_grad_clip=_tensor(_grad_clip(x, policy_of=None) for x in o),
            adv_norm=_tensor((x.adv_norm for x in o), torch.bool),
            max_kl=_tensor(x.max_kl for x in a),
            max_kl_final=_tensor(x.max_kl if x.max_kl_final is None else x.max_kl_final for x in a),
            cg_damping=_tensor(x.cg_damping for x in a),
            gamma=np.array([x.gamma for x in a]),
            gae_lambda=np.array([x.gae_lambda for x in a]),
            timeout_bootstrap=np.array([c.env.timeout_bootstrap for c in cfgs]),
        )

    def lr_factor(self, progress: float) -> torch.Tensor:
        """opt.lr_anneal: learning rates decay linearly from their initial value to 0 at the end."""
        return torch.where(self.lr_anneal, torch.tensor(1.0 - progress), torch.tensor(1.0))

    def kl_bound(self, progress: float) -> torch.Tensor:
        """TRPO's delta, linearly scheduled from algo.max_kl to algo.max_kl_final."""
        return self.max_kl + (self.max_kl_final - self.max_kl) * progress
