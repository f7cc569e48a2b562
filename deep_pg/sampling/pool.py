"""The sampling worker processes, one kind for training and probes alike.

A ``WorkerPool`` starts one spawned process per host: process w builds its host object
``factory(*args)`` and answers commands ``(name, args)`` with ``getattr(host, name)(*args)``
until told to close. What a worker samples is decided by its host:

- ``deep_pg.sampling.pack.MemberGroup`` (training): some members of a pack, each with its own
  environments, normalizers and noise stream; rollouts go back over the pipe;
- ``deep_pg.sampling.worker.ProbeWorker`` (probes): many environments at one frozen policy,
  writing step data into a shared-memory chunk.

Replies come back in the order the commands went out; every reply is read before an error is
raised, so no stale reply is left in a pipe, and a worker's traceback reaches the caller as a
``SamplerError``. Workers use one torch thread and ignore the Slurm requeue signal (their job's
main process checkpoints and requeues).
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from deep_pg.runtime.preemption import ignore_in_worker

Command = tuple[str, tuple]


class SamplerError(RuntimeError):
    """A sampling worker failed; the message holds its traceback."""


def _serve(conn, factory: Callable[..., Any], args: tuple) -> None:
    """Worker process: build the host, then answer commands until 'close'; errors go back as
    text and the worker keeps serving (the caller decides whether to go on)."""
    import torch

    ignore_in_worker()
    torch.set_num_threads(1)
    host = None
    try:
        try:
            host = factory(*args)
        except Exception:  # noqa: BLE001 - reported to the parent, which raises it
            conn.send(("error", traceback.format_exc()))
            return
        conn.send(("ok", None))
        while True:
            command, command_args = conn.recv()
            if command == "close":
                break
            try:
                conn.send(("ok", getattr(host, command)(*command_args)))
            except Exception:  # noqa: BLE001 - reported to the parent, which raises it
                conn.send(("error", traceback.format_exc()))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):  # the parent went away
        pass
    finally:
        if host is not None:
            host.close()
        conn.close()


class WorkerPool:
    """One worker process per ``(factory, args)`` in ``hosts``, addressed by index."""

    def __init__(self, hosts: Sequence[tuple[Callable[..., Any], tuple]]):
        ctx = mp.get_context("spawn")  # fork after torch/OpenMP start-up is unsafe
        self.conns, self.procs = [], []
        try:
            for factory, args in hosts:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, factory, args), daemon=True)
                proc.start()
                child.close()
                self.conns.append(parent)
                self.procs.append(proc)
            self.gather(range(len(self.conns)))  # every host built, or its error raised
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self.conns)

    def call(self, commands: dict[int, Command]) -> dict[int, Any]:
        """Send each worker its command, then gather every reply (the workers run in parallel)."""
        self.send(commands)
        return self.gather(commands)

    def send(self, commands: dict[int, Command]) -> None:
        for w, message in commands.items():
            self.conns[w].send(message)

    def gather(self, workers: Iterable[int]) -> dict[int, Any]:
        """One reply from each of ``workers``, all read before raising."""
        replies, errors = {}, []
        for w in workers:
            try:
                status, payload = self.conns[w].recv()
            except (EOFError, ConnectionResetError):
                errors.append(f"sampling worker {w} died (exit code {self.procs[w].exitcode})")
                continue
            if status == "error":
                errors.append(f"sampling worker {w} failed:\n{payload}")
            replies[w] = payload
        if errors:
            raise SamplerError("\n".join(errors))
        return replies

    def close(self) -> None:
        """Ask each worker to close, then wait for it (10 s) or terminate it; a worker that
        already died is not an error here (its death was reported when it happened)."""
        for conn in self.conns:
            try:
                conn.send(("close", ()))
            except (BrokenPipeError, OSError):
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        self.conns, self.procs = [], []
