"""Adam and gradient clipping for member-stacked parameters (a leading member dimension).

Every parameter of a pack has shape (M, ...): member m's slice is its own network. Each member
has its own learning rate (and schedule), Adam epsilon, moments and gradient-norm clip, so a
member steps exactly as ``torch.optim.Adam`` would step that member's run alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import cast

import torch


def member_view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(M,) per-member values shaped to broadcast against a stacked tensor (M, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


class MemberAdam:
    """Adam (Kingma & Ba; torch.optim.Adam's arithmetic) over stacked parameters.

    ``lr`` and ``eps`` are (M,) tensors; ``lr`` may be changed between steps (schedules).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: torch.Tensor,
        eps: torch.Tensor,
        betas: tuple[float, float] = (0.9, 0.999),
    ):
        self.params = list(params)
        self.lr, self.eps = lr.clone().to(torch.float32), eps.clone().to(torch.float32)
        self.beta1, self.beta2 = betas
        self.steps = 0  # members of a pack always step together
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._eps_views = [member_view(self.eps, p) for p in self.params]  # eps never changes

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        adam_step([self])

    # --- one member's state, in the run's own checkpoint ---------------------------------------
    def member_state(self, m: int) -> dict:
        return {
            "steps": self.steps,
            "exp_avg": [t[m].clone() for t in self.exp_avg],
            "exp_avg_sq": [t[m].clone() for t in self.exp_avg_sq],
        }

    def load_member_state(self, m: int, state: dict) -> None:
        """All members of a pack are at the same step count (they are resumed together)."""
        self.steps = state["steps"]
        for mine, saved in zip(
            self.exp_avg + self.exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"], strict=True
        ):
            mine[m].copy_(saved)


@torch.no_grad()
def adam_step(optimizers: Sequence[MemberAdam]) -> None:
    """One step of each of ``optimizers`` (a policy's and a value network's), every foreach
    operation made once for all their tensors: per tensor the same arithmetic as a step of its
    own optimizer, in fewer, larger calls. Optimizers at different step counts step one by one."""
    first = optimizers[0]
    if any(
        (o.steps, o.beta1, o.beta2) != (first.steps, first.beta1, first.beta2)
        for o in optimizers[1:]
    ):
        for optimizer in optimizers:
            adam_step([optimizer])
        return
    beta1, beta2 = first.beta1, first.beta2
    for optimizer in optimizers:
        optimizer.steps += 1
    steps = first.steps
    params = [p for o in optimizers for p in o.params]
    exp_avg = [t for o in optimizers for t in o.exp_avg]
    exp_avg_sq = [t for o in optimizers for t in o.exp_avg_sq]
    grads = cast(list[torch.Tensor], [p.grad for p in params])  # backward ran: none is None
    torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sq, beta2)
    torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1 - beta2)
    bias_correction1 = 1 - beta1**steps
    bias_correction2_sqrt = math.sqrt(1 - beta2**steps)
    denom = torch._foreach_sqrt(exp_avg_sq)
    torch._foreach_div_(denom, bias_correction2_sqrt)
    torch._foreach_add_(denom, [v for o in optimizers for v in o._eps_views])
    update = torch._foreach_div(exp_avg, denom)
    step_sizes = []
    for optimizer in optimizers:
        step_size = optimizer.lr / bias_correction1
        step_sizes += [member_view(step_size, p) for p in optimizer.params]
    torch._foreach_mul_(update, step_sizes)
    torch._foreach_sub_(params, update)


def clip_member_gradients(params: Iterable[torch.Tensor], max_norm: torch.Tensor) -> torch.Tensor:
    """opt.grad_clip per member: scale member m's gradients to global norm <= max_norm[m].

    ``max_norm`` is (M,), inf where a member does not clip. Returns the (M,) norms before
    clipping. Same rule as torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (norm + 1e-6),
    capped at 1), applied to each member's own norm.
    """
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()
    if torch.isinf(max_norm).all():
        return norms
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    torch._foreach_mul_(grads, [member_view(coef, g) for g in grads])
    return norms
