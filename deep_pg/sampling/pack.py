"""The training sampler of a pack: every member's ``MemberSampler``, in this process or spread
over the pool's worker processes.

A pack of one samples in this process (a worker would only add a hand-over). A larger pack
gives each of ``workers`` processes a share of the members; per iteration each worker receives
its members' policies (a few KB of weights), runs their rollouts in lockstep
(``collect_together``: one batched step of all its members' environments, policies and
normalizers per time step), and sends the rollouts back (about 0.2 MB per member and iteration
on Hopper): one round trip per iteration, so the hand-over costs microseconds per step against
the hundreds a physics step costs. Member m's rollout depends only on its own state, never on
which worker ran it or what else ran there, so a member samples exactly what it would sample
alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deep_pg.experience import Rollout
from deep_pg.sampling.pool import Command, WorkerPool
from deep_pg.sampling.rollout import (
    MemberSampler,
    PolicyArrays,
    collect_together,
)


class MemberGroup:
    """The members one process samples for, by slot (the member's index in the pack)."""

    def __init__(self):
        self.samplers: dict[int, MemberSampler] = {}

    def add(self, slot: int, cfg) -> tuple[int, int]:
        self.samplers[slot] = MemberSampler(cfg)
        env = self.samplers[slot].env
        return env.obs_dim, env.act_dim

    def collect(self, policies: dict[int, PolicyArrays], steps_per_env: int) -> dict[int, Rollout]:
        slots = list(policies)
        rollouts = collect_together(
            [self.samplers[slot] for slot in slots],
            [policies[slot] for slot in slots],
            steps_per_env,
        )
        return dict(zip(slots, rollouts))

    def state(self, slot: int) -> dict[str, Any]:
        return self.samplers[slot].state_dict()

    def load(self, slot: int, state: dict[str, Any]) -> None:
        self.samplers[slot].load_state_dict(state)

    def normalizers(self, slot: int) -> tuple:
        return self.samplers[slot].normalizers()

    def drop(self, slot: int) -> None:
        self.samplers.pop(slot).close()

    def close(self) -> None:
        for sampler in self.samplers.values():
            sampler.close()
        self.samplers.clear()


class PackSampler:
    """Samples for every member of a pack; ``workers=0`` keeps them all in this process."""

    def __init__(self, cfgs: Sequence, workers: int):
        self.workers = min(workers, len(cfgs))
        self.owner = {
            slot: slot % self.workers if self.workers else None for slot in range(len(cfgs))
        }
        self.local = MemberGroup()
        self.pool: WorkerPool | None = None
        try:
            if self.workers:
                self.pool = WorkerPool([(MemberGroup, ())] * self.workers)
            dims = self._call({slot: ("add", (slot, cfg)) for slot, cfg in enumerate(cfgs)})
            self.obs_dim, self.act_dim = dims[0]
        except BaseException:
            self.close()
            raise

    @property
    def slots(self) -> list[int]:
        return sorted(self.owner)

    def collect(self, policies: dict[int, PolicyArrays], steps_per_env: int) -> dict[int, Rollout]:
        by_owner: dict[Any, dict[int, PolicyArrays]] = {}
        for slot, policy in policies.items():
            by_owner.setdefault(self.owner[slot], {})[slot] = policy
        replies = self._send(
            {owner: ("collect", (share, steps_per_env)) for owner, share in by_owner.items()}
        )
        return {slot: rollout for reply in replies.values() for slot, rollout in reply.items()}

    def state(self, slot: int) -> dict[str, Any]:
        return self._call({slot: ("state", (slot,))})[slot]

    def load(self, slot: int, state: dict[str, Any]) -> None:
        self._call({slot: ("load", (slot, state))})

    def normalizers(self, slot: int) -> tuple:
        return self._call({slot: ("normalizers", (slot,))})[slot]

    def drop(self, slot: int) -> None:
        """Stop sampling for member ``slot`` (it failed); the others are untouched."""
        self._call({slot: ("drop", (slot,))})
        del self.owner[slot]

    # --- plumbing -------------------------------------------------------------------------------
    def _call(self, commands: dict[int, Command]) -> dict[int, Any]:
        """One command per slot, sent to the slot's owner, one at a time; replies by slot."""
        return {
            slot: self._send({self.owner[slot]: command})[self.owner[slot]]
            for slot, command in commands.items()
        }

    def _send(self, commands: dict[Any, Command]) -> dict[Any, Any]:
        """One command to each owner (``None``: this process), run in parallel; replies by owner."""
        if self.pool is None:
            return {
                owner: getattr(self.local, name)(*args) for owner, (name, args) in commands.items()
            }
        return self.pool.call(commands)

    def close(self) -> None:
        self.local.close()
        if self.pool is not None:
            self.pool.close()
            self.pool = None
