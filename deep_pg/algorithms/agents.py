"""A run's networks and optimizer state (``Agent``) and a pack's stacked ones (``PackAgent``).

A pack trains ``M`` runs at once: every network parameter carries a leading member dimension, and
a member taken out of a pack (checkpoints, probes) is the ``Agent`` of its run alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from deep_pg.algorithms.optim import MemberAdam
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.config import Activation
from deep_pg.networks import GaussianPolicy, StackedPolicy, StackedValue, ValueNetwork


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
