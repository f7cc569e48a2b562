"""The minibatch gradients of PPO's two losses, written out for the member-stacked MLPs.

A minibatch step through autograd records and replays about a hundred small operations whose
per-operation overhead, not their arithmetic, is most of a single run's update time. The losses
are fixed (``losses.surrogate_objective`` with the entropy bonus, ``losses.value_loss``), so their
gradients are written here once as a few batched products: the same forward values as the loss
functions and, up to rounding, the gradients autograd gives them (``tests/test_gradients.py``
checks both for every toggle that shapes them). Ties of ``min``/``max`` split the gradient as
autograd does.
"""

from __future__ import annotations

import torch

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.losses import member_column, normalize
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.networks import LOG_2PI, StackedMLP, StackedPolicy, StackedValue

# d(activation)/d(input) from the activation's output y
DERIVATIVES = {
    torch.nn.Tanh: lambda y: 1 - y * y,
    torch.nn.ReLU: lambda y: y > 0,
}


def _backward(net: StackedMLP, inputs: list[torch.Tensor], d_out: torch.Tensor) -> list:
    """Gradients of the weights, then of the biases, given d(loss)/d(output) (M, B, out) and
    the layer inputs of ``StackedMLP.forward_keeping_inputs``."""
    derivative = DERIVATIVES[type(net.activation)]
    d_weights, d_biases = [], []
    delta = d_out
    for i in reversed(range(len(net.weights))):
        d_weights.append(torch.bmm(inputs[i].transpose(1, 2), delta))
        d_biases.append(delta.sum(1, keepdim=True))
        if i > 0:  # inputs[i] is the output of layer i - 1's activation
            delta = torch.bmm(delta, net.weights[i].transpose(1, 2)) * derivative(inputs[i])
    return d_weights[::-1] + d_biases[::-1]


@torch.no_grad()
def policy_loss_and_gradients(
    policy: StackedPolicy, mb: Batch, s: MemberSettings
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """-``losses.surrogate_objective`` - entropy_coef * entropy per member (M,), and its gradients
    in the order of ``policy.parameters()``."""
    assert mb.advantages is not None and mb.actions is not None and mb.logp_old is not None
    mean, inputs = policy.mean.forward_keeping_inputs(mb.obs)
    log_std = policy.log_std
    inv_std = torch.exp(-log_std)
    z = (mb.actions - mean) * inv_std
    logp = (-0.5 * z.pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)
    ratio = torch.exp(logp - mb.logp_old)
    advantages = normalize(mb.advantages, s.adv_norm)
    clip_eps = member_column(s.clip_eps)
    objective = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    entropy = (log_std[:, 0] + 0.5 * (LOG_2PI + 1.0)).sum(-1)
    loss = -torch.minimum(objective, clipped).mean(-1) - s.entropy_coef * entropy
    # d(min)/d(ratio): A where the unclipped term is the smaller one (ties included: there the
    # clipped term equals it inside the clip range, and outside it A = 0); 0 where clipped.
    d_ratio = torch.where(objective <= clipped, advantages, 0.0) * (-1.0 / ratio.shape[-1])
    d_logp = (d_ratio * ratio).unsqueeze(-1)
    d_mean = d_logp * z * inv_std
    d_log_std = (d_logp * (z * z - 1)).sum(1, keepdim=True) - s.entropy_coef.view(-1, 1, 1)
    return loss, [d_log_std, *_backward(policy.mean, inputs, d_mean)]  # own parameter first


@torch.no_grad()
def value_loss_and_gradients(
    value: StackedValue, mb: Batch, s: MemberSettings
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``losses.value_loss`` per member (M,) and its gradients in the order of
    ``value.parameters()``."""
    out, inputs = value.net.forward_keeping_inputs(mb.obs)
    values = out.squeeze(-1)
    error = values - mb.returns
    unclipped = error.pow(2)
    clip_eps = member_column(s.value_clip_eps)
    step = values - mb.values_old
    clipped_error = mb.values_old + torch.clamp(step, -clip_eps, clip_eps) - mb.returns
    clipped = clipped_error.pow(2)
    use_clip = member_column(s.value_clip)
    loss = torch.where(use_clip, torch.maximum(unclipped, clipped), unclipped).mean(-1)
    # d(max)/d(values): each term where it is the larger one, half each on a tie; the clipped
    # term only where the step is inside the clip range (clamp passes no gradient outside).
    half = torch.where(unclipped == clipped, 0.5, 1.0)
    inside = (step >= -clip_eps) & (step <= clip_eps)
    d_pessimistic = torch.where(unclipped >= clipped, half * error, 0.0) + torch.where(
        (clipped >= unclipped) & inside, half * clipped_error, 0.0
    )
    d_values = torch.where(use_clip, d_pessimistic, error) * (2.0 / values.shape[-1])
    return loss, _backward(value.net, inputs, d_values.unsqueeze(-1))
