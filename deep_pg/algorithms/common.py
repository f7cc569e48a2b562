"""What every policy update shares: the agent's parts, value fitting, gradient clipping, metrics."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn

from deep_pg.algorithms.batch import Batch
from deep_pg.config import Activation
from deep_pg.networks import GaussianPolicy, ValueNetwork, gaussian_kl


class NonFiniteError(RuntimeError):
    """A loss or a parameter became NaN/inf: training cannot continue."""


@dataclass
class Agent:
    policy: GaussianPolicy
    value: ValueNetwork
    policy_optimizer: torch.optim.Optimizer | None  # None for TRPO (natural-gradient steps)
    value_optimizer: torch.optim.Optimizer
    schedulers: list[torch.optim.lr_scheduler.LRScheduler]

    def state_dict(self) -> dict:
        return {
            "policy": self.policy.state_dict(),
            "value": self.value.state_dict(),
            "policy_optimizer": self.policy_optimizer.state_dict() if self.policy_optimizer else None,
            "value_optimizer": self.value_optimizer.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
        }

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.value.load_state_dict(state["value"])
        if self.policy_optimizer:
            self.policy_optimizer.load_state_dict(state["policy_optimizer"])
        self.value_optimizer.load_state_dict(state["value_optimizer"])
        for scheduler, s in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(s)

    def learning_rates(self) -> dict[str, float]:
        rates = {"value_lr": self.value_optimizer.param_groups[0]["lr"]}
        if self.policy_optimizer:
            rates["policy_lr"] = self.policy_optimizer.param_groups[0]["lr"]
        return rates


def build_agent(cfg, obs_dim: int, act_dim: int, num_iterations: int) -> Agent:
    a, o = cfg.algo, cfg.opt
    activation = Activation(o.activation).value
    policy = GaussianPolicy(obs_dim, act_dim, a.hidden_sizes, activation, o.ortho_init, a.init_log_std)
    value = ValueNetwork(obs_dim, a.hidden_sizes, activation, o.ortho_init)
    policy_optimizer = None
    if a.family != "trpo":
        policy_optimizer = adam(policy.parameters(), a.policy_lr, a.adam_eps)
    value_optimizer = adam(value.parameters(), a.value_lr, a.adam_eps)
    optimizers = [opt for opt in (policy_optimizer, value_optimizer) if opt is not None]
    # opt.lr_anneal: the learning rate decays linearly from its initial value to 0 at the end.
    decay = (lambda it: 1.0 - it / num_iterations) if o.lr_anneal else (lambda it: 1.0)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, decay) for opt in optimizers]
    return Agent(policy, value, policy_optimizer, value_optimizer, schedulers)


def adam(parameters, lr: float, eps: float) -> torch.optim.Adam:
    # The fused CPU kernel is several times faster than the per-tensor loop for these small nets.
    return torch.optim.Adam(parameters, lr=lr, eps=eps, fused=True)


def clip_gradients(parameters, max_norm: float | None) -> float:
    """opt.grad_clip: rescale the gradients of ``parameters`` to global norm <= max_norm.

    Returns the norm before clipping. Every algorithm (PPO, PG, TRPO/TRPO+ and value fitting)
    calls this, so the toggle is honoured everywhere.
    """
    params = [p for p in parameters if p.grad is not None]
    if max_norm is None:
        return float(nn.utils.get_total_norm([p.grad for p in params], foreach=True))
    return float(nn.utils.clip_grad_norm_(params, max_norm, foreach=True))


def normalize(advantages: torch.Tensor, enabled: bool) -> torch.Tensor:
    """opt.adv_norm: standardize advantages (per minibatch, or per batch for full-batch steps)."""
    if not enabled or advantages.numel() < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def minibatches(batch: Batch, num_minibatches: int, rng: np.random.Generator) -> Iterator[Batch]:
    """A random partition of the batch into ``num_minibatches`` parts (one epoch).

    The batch is shuffled once and cut into contiguous views: one gather per tensor per epoch
    instead of one per minibatch, which is measurable at 32 minibatches of 64.
    """
    n = len(batch)
    shuffled = batch.select(torch.from_numpy(rng.permutation(n)))
    start = 0
    for size in (len(part) for part in np.array_split(np.arange(n), num_minibatches)):
        yield shuffled.select(slice(start, start + size))
        start += size


def value_loss(values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor,
               value_clip: bool, clip_eps: float) -> torch.Tensor:
    """Squared error of the predictions ``values`` to the GAE targets; opt.value_clip takes the
    PPO-style pessimistic maximum max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)."""
    loss = (values - returns).pow(2)
    if value_clip:
        clipped = values_old + torch.clamp(values - values_old, -clip_eps, clip_eps)
        loss = torch.maximum(loss, (clipped - returns).pow(2))
    return loss.mean()


def fit_value(agent: Agent, batch: Batch, cfg, rng: np.random.Generator) -> float:
    """algo.value_epochs of Adam minibatch steps on the value loss; returns the mean loss."""
    losses = []
    # Plain locals: DictConfig attribute access is slow enough to matter in this loop.
    value_clip, clip_eps, grad_clip = cfg.opt.value_clip, cfg.algo.value_clip_eps, cfg.opt.grad_clip
    for _ in range(cfg.algo.value_epochs):
        for mb in minibatches(batch, cfg.algo.num_minibatches, rng):
            loss = value_loss(agent.value(mb.obs), mb.values_old, mb.returns, value_clip, clip_eps)
            agent.value_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                clip_gradients(agent.value.parameters(), grad_clip)
            agent.value_optimizer.step()
            losses.append(loss.detach())
    return check_finite("value loss", float(torch.stack(losses).mean()))


def check_finite(name: str, value: float) -> float:
    if not np.isfinite(value):
        raise NonFiniteError(f"{name} is {value}")
    return value


def check_parameters_finite(agent: Agent) -> None:
    for net_name, net in (("policy", agent.policy), ("value", agent.value)):
        for name, p in net.named_parameters():
            if not torch.isfinite(p).all():
                raise NonFiniteError(f"{net_name} parameter '{name}' is not finite")


def trust_region_metrics(policy: GaussianPolicy, batch: Batch, clip_eps: float) -> dict[str, float]:
    """mean KL(pi_old || pi_new) over the batch states, max and clip fraction of pi_new/pi_old."""
    with torch.no_grad():
        mean_new = policy(batch.obs)
        kl = gaussian_kl(batch.mean_old, batch.log_std_old, mean_new, policy.log_std)
        ratio = torch.exp(policy.log_prob(batch.obs, batch.actions) - batch.logp_old)
    return {
        "mean_kl": float(kl.mean()),
        "max_ratio": float(ratio.max()),
        "clip_frac": float(((ratio - 1.0).abs() > clip_eps).float().mean()),
    }


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var[R - V] / Var[R] of the pre-update value predictions (1 = perfect, <=0 = useless)."""
    var = returns.var()
    return float("nan") if var == 0 else float(1.0 - (returns - values).var() / var)
