"""What every policy update shares: a pack's agents, per-member settings, the loss terms, value
fitting and metrics.

A pack trains ``M`` runs at once: every network parameter carries a leading member dimension and
every setting that may differ between members is an (M,) tensor in ``MemberSettings``. Each loss
term below is written once, for any leading shape: a pack's (M, B) tensors or a single run's (B,)
with the settings of a pack of one (the probes measure the same objective and replay the same
update on one run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deep_pg.algorithms.batch import Batch
from deep_pg.algorithms.optim import MemberAdam
from deep_pg.config import Activation
from deep_pg.networks import GaussianPolicy, StackedPolicy, StackedValue, ValueNetwork, gaussian_kl

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


@dataclass
class Agent:
    """One run's networks and optimizer state: a pack member on its own (checkpoints, probes)."""

    policy: GaussianPolicy
    value: ValueNetwork
    policy_optimizer: dict | None  # MemberAdam state of this member; None for TRPO
    value_optimizer: dict | None  # None until a fresh agent joins a pack

    def state_dict(self) -> dict:
        return {
            "policy": self.policy.state_dict(),
            "value": self.value.state_dict(),
            "policy_optimizer": self.policy_optimizer,
            "value_optimizer": self.value_optimizer,
        }


@dataclass
class PackAgent:
    """The stacked networks and optimizers of a pack's members, with their settings."""

    policy: StackedPolicy
    value: StackedValue
    policy_optimizer: MemberAdam | None  # None for TRPO (natural-gradient steps)
    value_optimizer: MemberAdam
    settings: MemberSettings

    @classmethod
    def from_agents(
        cls, agents: Sequence[Agent], settings: MemberSettings, family: str
    ) -> PackAgent:
        policy = StackedPolicy([a.policy for a in agents])
        value = StackedValue([a.value for a in agents])
        policy_optimizer = None
        if family != "trpo":
            policy_optimizer = MemberAdam(
                policy.parameters(), settings.policy_lr, settings.adam_eps
            )
        value_optimizer = MemberAdam(value.parameters(), settings.value_lr, settings.adam_eps)
        pack = cls(policy, value, policy_optimizer, value_optimizer, settings)
        for m, agent in enumerate(agents):
            if agent.value_optimizer is not None:
                pack.load_member_optimizers(m, agent)
        return pack

    @property
    def num_members(self) -> int:
        return self.policy.num_members

    def schedule(self, progress: float) -> dict[str, torch.Tensor]:
        """Set the learning rates this update uses (fraction ``progress`` of training done)."""
        factor = self.settings.lr_factor(progress)
        rates = {"value_lr": self.settings.value_lr * factor}
        self.value_optimizer.lr = rates["value_lr"]
        if self.policy_optimizer is not None:
            rates["policy_lr"] = self.settings.policy_lr * factor
            self.policy_optimizer.lr = rates["policy_lr"]
        return rates

    def member(self, m: int) -> Agent:
        return Agent(
            self.policy.member(m),
            self.value.member(m),
            self.policy_optimizer.member_state(m) if self.policy_optimizer else None,
            self.value_optimizer.member_state(m),
        )

    def load_member(self, m: int, agent_state: dict) -> None:
        """Member ``m`` from an ``Agent.state_dict()`` (a checkpoint)."""
        self.policy.load_member_state(m, agent_state["policy"])
        self.value.load_member_state(m, agent_state["value"])
        self.load_member_optimizers(m, agent_state)

    def load_member_optimizers(self, m: int, agent) -> None:
        get: Callable[[str], Any] = (
            agent.get if isinstance(agent, dict) else lambda k: getattr(agent, k)
        )
        if self.policy_optimizer is not None:
            self.policy_optimizer.load_member_state(m, get("policy_optimizer"))
        self.value_optimizer.load_member_state(m, get("value_optimizer"))


def initial_agent(cfg, obs_dim: int, act_dim: int) -> Agent:
    """A run's freshly initialized networks, drawn from a generator seeded with its seed only."""
    a, o = cfg.algo, cfg.opt
    activation = Activation(o.activation).value
    generator = torch.Generator().manual_seed(cfg.seed)
    policy = GaussianPolicy(
        obs_dim, act_dim, a.hidden_sizes, activation, o.ortho_init, a.init_log_std, generator
    )
    value = ValueNetwork(obs_dim, a.hidden_sizes, activation, o.ortho_init, generator)
    return Agent(policy, value, None, None)


# --- loss terms (any leading shape: (M, B) in a pack, (B,) for one run) -------------------------
def normalize(advantages: torch.Tensor, enabled) -> torch.Tensor:
    """opt.adv_norm: standardize advantages over the pairs (last dim), per member.

    ``enabled`` is a bool or an (M,) bool tensor."""
    if advantages.shape[-1] < 2:
        return advantages
    mean = advantages.mean(-1, keepdim=True)
    normalized = (advantages - mean) / (advantages.std(-1, keepdim=True) + 1e-8)
    if isinstance(enabled, torch.Tensor):
        return torch.where(enabled.unsqueeze(-1), normalized, advantages)
    return normalized if enabled else advantages


def surrogate(policy, batch: Batch, advantages: torch.Tensor, clip_eps) -> torch.Tensor:
    """The surrogate objective per pair at ``policy`` (paper Eq. 1 and PPO's Eq. 2), ratio =
    pi / pi_old: min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A), which is ratio * A where
    ``clip_eps`` is inf ((M,) per member, or 0-d / a float for one run)."""
    ratio = torch.exp(policy.log_prob(batch.obs, batch.actions) - batch.logp_old)
    clip_eps = _column(clip_eps)
    objective = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return torch.minimum(objective, clipped)


def surrogate_objective(policy, batch: Batch, settings: MemberSettings) -> torch.Tensor:
    """What the policy update maximizes (PPO, TRPO; and what the probes measure): the mean over
    the batch's pairs of ``surrogate``, advantages normalized as opt.adv_norm says and the ratio
    clipped as the member's algorithm clips it. (M,) per member."""
    assert batch.advantages is not None  # a policy batch
    advantages = normalize(batch.advantages, settings.adv_norm)
    return surrogate(policy, batch, advantages, settings.clip_eps).mean(-1)


def value_errors(
    values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor, value_clip, clip_eps
) -> torch.Tensor:
    """Squared error of the predictions ``values`` to the targets ``returns`` per pair;
    opt.value_clip takes the PPO-style pessimistic maximum
    max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2). ``value_clip``/``clip_eps`` are
    (M,) per member or scalars."""
    loss = (values - returns).pow(2)
    clip_eps = _column(clip_eps)
    clipped = values_old + torch.clamp(values - values_old, -clip_eps, clip_eps)
    pessimistic = torch.maximum(loss, (clipped - returns).pow(2))
    return torch.where(_column(value_clip), pessimistic, loss)


def value_loss(
    values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor, value_clip, clip_eps
) -> torch.Tensor:
    """The value network's loss: ``value_errors`` to the GAE targets, averaged over pairs."""
    return value_errors(values, values_old, returns, value_clip, clip_eps).mean(-1)


def _column(x):
    """(M,) per-member values as (M, 1) to broadcast over pairs; scalars as they are."""
    return x.unsqueeze(-1) if isinstance(x, torch.Tensor) and x.dim() == 1 else torch.as_tensor(x)


def minibatches(
    batch: Batch, num_minibatches: int, rngs: Sequence[np.random.Generator]
) -> Iterator[Batch]:
    """A random partition of each member's batch into ``num_minibatches`` parts (one epoch),
    member m shuffled by its own ``rngs[m]``.

    The batch is shuffled once and cut into contiguous views: one gather per tensor per epoch
    instead of one per minibatch, which is measurable at 32 minibatches of 64.
    """
    n = len(batch)
    shuffled = batch.gather(torch.from_numpy(np.stack([rng.permutation(n) for rng in rngs])))
    start = 0
    for size in (len(part) for part in np.array_split(np.arange(n), num_minibatches)):
        yield shuffled.select(slice(start, start + size))
        start += size


def value_step(agent: PackAgent, mb: Batch) -> torch.Tensor:
    """One Adam step of every member's value network on its value loss on ``mb``; returns the
    (M,) losses."""
    loss = minibatch_value_loss(agent, mb)
    agent.value_optimizer.zero_grad()
    loss.sum().backward()  # members share no parameters: each gets its own gradient
    clip_value_gradients(agent)
    agent.value_optimizer.step()
    return loss.detach()


def minibatch_value_loss(agent: PackAgent, mb: Batch) -> torch.Tensor:
    """Every member's value loss on ``mb``, (M,)."""
    s = agent.settings
    return value_loss(
        agent.value(mb.obs), mb.values_old, mb.returns, s.value_clip, s.value_clip_eps
    )


def clip_value_gradients(agent: PackAgent) -> None:
    """opt.grad_clip on the value network's gradients (skipped where no member clips: the norms
    themselves are not reported)."""
    if torch.isfinite(agent.settings.value_grad_clip).any():
        agent.value_optimizer.clip_gradients(agent.settings.value_grad_clip)


def fit_value(
    agent: PackAgent, batch: Batch, epochs: int, num_minibatches: int, rngs
) -> torch.Tensor:
    """``epochs`` passes of ``value_step`` over random minibatches (training: algo.value_epochs,
    algo.num_minibatches); returns each member's mean loss."""
    losses = [
        value_step(agent, mb)
        for _ in range(epochs)
        for mb in minibatches(batch, num_minibatches, rngs)
    ]
    return torch.stack(losses).mean(0)


def nonfinite_members(agent: PackAgent, metrics: dict[str, torch.Tensor]) -> dict[int, str]:
    """Members whose losses or parameters are NaN/inf after an update, with the reason."""
    failed: dict[int, str] = {}
    for name in ("policy_loss", "value_loss"):
        if name in metrics:
            for m in torch.nonzero(~torch.isfinite(metrics[name])).flatten().tolist():
                failed.setdefault(m, f"{name.replace('_', ' ')} is {float(metrics[name][m])}")
    for net_name, net in (("policy", agent.policy), ("value", agent.value)):
        for name, p in net.named_parameters():
            bad = ~torch.isfinite(p.detach().flatten(1)).all(1)
            for m in torch.nonzero(bad).flatten().tolist():
                failed.setdefault(m, f"{net_name} parameter '{name}' is not finite")
    return failed


def trust_region_metrics(policy, batch: Batch, clip_eps) -> dict[str, torch.Tensor]:
    """mean KL(pi_old || pi_new) over the batch states, max and clip fraction of pi_new/pi_old,
    per member ((M,) tensors) or for one run (0-d tensors)."""
    assert batch.mean_old is not None and batch.log_std_old is not None  # a policy batch
    with torch.no_grad():
        mean_new = policy(batch.obs)
        kl = gaussian_kl(batch.mean_old, batch.log_std_old, mean_new, policy.log_std)
        ratio = torch.exp(policy.log_prob(batch.obs, batch.actions) - batch.logp_old)
    return {
        "mean_kl": kl.mean(-1),
        "max_ratio": ratio.amax(-1),
        "clip_frac": ((ratio - 1.0).abs() > _column(clip_eps)).float().mean(-1),
    }


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """1 - Var[R - V] / Var[R] of the pre-update value predictions per member (1 = perfect,
    <= 0 = useless; NaN where the targets do not vary)."""
    var = returns.var(-1)
    explained = 1.0 - (returns - values).var(-1) / var
    return torch.where(var == 0, torch.tensor(float("nan")), explained)
