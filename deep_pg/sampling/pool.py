"""The training sampler of a pack: every member's ``MemberSampler``, in this process or spread
over worker processes.

A pack of one samples in this process (a worker would only add a hand-over). A larger pack
gives each of ``workers`` processes a share of the members; per iteration each worker receives
its members' policies (a few KB of weights), runs their rollouts one after another, and sends
the rollouts back (about 0.2 MB per member and iteration on Hopper): one round trip per
iteration, so the hand-over costs microseconds per step against the hundreds a physics step
costs. Member m's rollout depends only on its own state, never on which worker ran it or what
else ran there, so a member samples exactly what it would sample alone.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from typing import Any, Sequence

from deep_pg.sampling.rollout import MemberSampler, PolicyArrays, Rollout
from deep_pg.sweep.preemption import ignore_in_worker


class SamplerError(RuntimeError):
    """A sampling worker failed; the message holds its traceback."""


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Members:
    """The members one process samples for, by slot (the member's index in the pack)."""

    def __init__(self):
        self.samplers: dict[int, MemberSampler] = {}

    def add(self, slot: int, cfg) -> tuple[int, int]:
        self.samplers[slot] = MemberSampler(cfg)
        env = self.samplers[slot].env
        return env.obs_dim, env.act_dim

    def collect(self, policies: dict[int, PolicyArrays], steps_per_env: int) -> dict[int, Rollout]:
        return {slot: self.samplers[slot].collect(policy, steps_per_env)
                for slot, policy in policies.items()}

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


def stop_workers(conns, procs) -> None:
    """Ask each worker process to close, then wait for it (10 s) or terminate it; a worker that
    already died is not an error here (its death was reported when it happened)."""
    for conn in conns:
        try:
            conn.send(("close", ()))
        except (BrokenPipeError, OSError):
            pass
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()


def _serve(conn) -> None:
    """Worker process: answer commands until 'close'; errors go back as text."""
    import torch

    ignore_in_worker()  # a Slurm requeue signal is the pack's to handle
    torch.set_num_threads(1)
    members = _Members()
    try:
        while True:
            command, args = conn.recv()
            if command == "close":
                break
            try:
                conn.send(("ok", getattr(members, command)(*args)))
            except Exception:  # noqa: BLE001 - reported to the parent, which raises it
                conn.send(("error", traceback.format_exc()))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):  # the parent went away
        pass
    finally:
        members.close()
        conn.close()


class PackSampler:
    """Samples for every member of a pack; ``workers=0`` keeps them all in this process."""

    def __init__(self, cfgs: Sequence, workers: int):
        self.workers = min(workers, len(cfgs))
        self.owner = {slot: slot % self.workers if self.workers else None for slot in range(len(cfgs))}
        self.local = _Members()
        self.conns, self.procs = [], []
        try:
            if self.workers:
                ctx = mp.get_context("spawn")  # fork after torch/OpenMP start-up is unsafe
                for _ in range(self.workers):
                    parent, child = ctx.Pipe()
                    proc = ctx.Process(target=_serve, args=(child,), daemon=True)
                    proc.start()
                    child.close()
                    self.conns.append(parent)
                    self.procs.append(proc)
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
        replies = self._send({owner: ("collect", (share, steps_per_env))
                              for owner, share in by_owner.items()})
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
    def _call(self, commands: dict[int, tuple[str, tuple]]) -> dict[int, Any]:
        """One command per slot, sent to the slot's owner; replies by slot."""
        by_owner: dict[Any, list[tuple[int, str, tuple]]] = {}
        for slot, (command, args) in commands.items():
            by_owner.setdefault(self.owner[slot], []).append((slot, command, args))
        out = {}
        for owner, items in by_owner.items():
            for slot, command, args in items:
                out[slot] = self._send({owner: (command, args)})[owner]
        return out

    def _send(self, commands: dict[Any, tuple[str, tuple]]) -> dict[Any, Any]:
        """Send one command to each owner (None = this process), then gather every reply."""
        for owner, message in commands.items():
            if owner is not None:
                self.conns[owner].send(message)
        replies, errors = {}, []
        for owner, (command, args) in commands.items():
            if owner is None:
                replies[owner] = getattr(self.local, command)(*args)
                continue
            try:
                status, payload = self.conns[owner].recv()
            except (EOFError, ConnectionResetError):
                errors.append(f"sampling worker {owner} died (exit code {self.procs[owner].exitcode})")
                continue
            if status == "error":
                errors.append(f"sampling worker {owner} failed:\n{payload}")
            replies[owner] = payload
        if errors:
            raise SamplerError("\n".join(errors))
        return replies

    def close(self) -> None:
        self.local.close()
        stop_workers(self.conns, self.procs)
        self.conns, self.procs = [], []
