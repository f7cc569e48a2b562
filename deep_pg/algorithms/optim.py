"""Adam and gradient clipping for member-stacked parameters (a leading member dimension).

Every parameter of a pack has shape (M, ...): member m's slice is its own network. Each member
has its own learning rate (and schedule), Adam epsilon, moments and gradient-norm clip, so a
member steps exactly as ``torch.optim.Adam`` would step that member's run alone.

``MemberAdam`` keeps its parameters, their gradients and its moments in one flat buffer each,
each parameter (M, ...) a contiguous view into it (as fused optimizers keep flat parameters): a
step is a handful of elementwise operations on one tensor per buffer instead of one per
parameter, with the same arithmetic per element.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch


def member_view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(M,) per-member values shaped to broadcast against a stacked tensor (M, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def _views(flat: torch.Tensor, shapes: Sequence[torch.Size]) -> list[torch.Tensor]:
    """Contiguous views of the 1-d buffer ``flat``, one per shape, in order."""
    sizes = [math.prod(shape) for shape in shapes]
    return [part.view(shape) for part, shape in zip(flat.split(sizes), shapes, strict=True)]


class MemberAdam:
    """Adam (Kingma & Ba; torch.optim.Adam's arithmetic) over stacked parameters.

    ``lr`` and ``eps`` are (M,) tensors; ``lr`` may be changed between steps (schedules).
    The parameters become views into this optimizer's flat buffer (their values unchanged).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: torch.Tensor,
        eps: torch.Tensor,
        betas: tuple[float, float] = (0.9, 0.999),
    ):
        self.params = list(params)
        self.eps = eps.clone().to(torch.float32)
        self.beta1, self.beta2 = betas
        self.steps = 0  # members of a pack always step together
        shapes = [p.shape for p in self.params]
        self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        for p, view in zip(self.params, _views(self.flat, shapes), strict=True):
            p.data = view
        self.flat_grad = torch.zeros_like(self.flat)
        self.grads = _views(self.flat_grad, shapes)
        self.flat_exp_avg = torch.zeros_like(self.flat)
        self.flat_exp_avg_sq = torch.zeros_like(self.flat)
        self.exp_avg = _views(self.flat_exp_avg, shapes)
        self.exp_avg_sq = _views(self.flat_exp_avg_sq, shapes)
        # the member each element of the buffers belongs to, to spread (M,) values over them
        self.member_of = torch.cat(
            [torch.arange(p.shape[0]).repeat_interleave(p[0].numel()) for p in self.params]
        )
        self.eps_per_element = self.eps[self.member_of]  # eps never changes
        self.lr = lr.clone().to(torch.float32)

    @property
    def lr(self) -> torch.Tensor:
        return self._lr

    @lr.setter
    def lr(self, lr: torch.Tensor) -> None:
        """Spread over the buffers' elements once per change (schedules change it once per
        update), not once per step: that gather was a tenth of a packed update."""
        self._lr = lr
        self.lr_per_element = lr[self.member_of]

    def zero_grad(self) -> None:
        """Zero gradients that backward accumulates into the flat buffer, in place."""
        self.flat_grad.zero_()
        for p, grad in zip(self.params, self.grads):
            p.grad = grad

    def set_gradients(self, grads: Sequence[torch.Tensor]) -> None:
        """Gradients computed without autograd (``algorithms.gradients``), one per parameter."""
        torch._foreach_copy_(self.grads, list(grads))
        for p, grad in zip(self.params, self.grads):
            if p.grad is not grad:
                p.grad = grad

    def gather_grads(self) -> torch.Tensor:
        """The flat gradient buffer, holding every parameter's current ``.grad`` (copied in where
        a gradient was set other than by accumulating into ``zero_grad``'s views; none is 0)."""
        for p, grad in zip(self.params, self.grads):
            if p.grad is not grad:
                grad.copy_(p.grad) if p.grad is not None else grad.zero_()
                p.grad = grad
        return self.flat_grad

    def clip_gradients(self, max_norm: torch.Tensor) -> torch.Tensor:
        """``clip_member_gradients`` of this optimizer's parameters (their gradients gathered
        into the flat buffer first)."""
        self.gather_grads()
        return clip_member_gradients(self.params, max_norm)

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
    operation made once for all their flat buffers: per element the same arithmetic as a step of
    its own optimizer. Optimizers at different step counts step one by one."""
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
    params = [o.flat for o in optimizers]
    exp_avg = [o.flat_exp_avg for o in optimizers]
    exp_avg_sq = [o.flat_exp_avg_sq for o in optimizers]
    grads = [o.gather_grads() for o in optimizers]
    torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sq, beta2)
    torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1 - beta2)
    bias_correction1 = 1 - beta1**steps
    bias_correction2_sqrt = math.sqrt(1 - beta2**steps)
    denom = torch._foreach_sqrt(exp_avg_sq)
    torch._foreach_div_(denom, bias_correction2_sqrt)
    torch._foreach_add_(denom, [o.eps_per_element for o in optimizers])
    update = torch._foreach_div(exp_avg, denom)
    step_sizes = [o.lr_per_element / bias_correction1 for o in optimizers]
    torch._foreach_mul_(update, step_sizes)
    torch._foreach_sub_(params, update)


def clip_member_gradients(params: Iterable[torch.Tensor], max_norm: torch.Tensor) -> torch.Tensor:
    """opt.grad_clip per member: scale member m's gradients to global norm <= max_norm[m].

    ``max_norm`` is (M,), inf where a member does not clip. Returns the (M,) norms before
    clipping. Same rule as torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (norm + 1e-6),
    capped at 1), applied to each member's own norm.
    """
    grads = [p.grad for p in params if p.grad is not None]
    norms = _member_norms(grads)
    if not torch.isinf(max_norm).all():
        coef = _coefficient(norms, max_norm)
        torch._foreach_mul_(grads, [member_view(coef, g) for g in grads])
    return norms


def _member_norms(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """Each member's global gradient norm over ``grads`` (each (M, ...)), shape (M,)."""
    return torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()


def _coefficient(norms: torch.Tensor, max_norm: torch.Tensor) -> torch.Tensor:
    """What member m's gradients are scaled by: max_norm / (norm + 1e-6), capped at 1."""
    return (max_norm / (norms + 1e-6)).clamp(max=1.0)
