"""Checkpoint-then-requeue when submitit signals a Slurm job (time limit or preemption).

submitit handles SIGUSR2 by requeueing the job and exiting at once; hydra-submitit-launcher then
reruns the same Hydra job from the start, and ``run_training`` resumes from ``checkpoints/last.pt``.
Checkpointing inside the signal handler could catch the trainer halfway through an update, so the
handler here only notes the signal; the trainer's iteration hook saves the checkpoint between
iterations and then hands over to submitit's own handler. Slurm's ``signal_delay_s`` must
therefore exceed one iteration (see conf/hydra/launcher/slurm.yaml). A pack saves every member's
checkpoint and is requeued whole; its sampling workers ignore the signal (``ignore_in_worker``).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

from deep_pg.tracking.run_logs import about

log = logging.getLogger("deep_pg")

SIGNAL = signal.SIGUSR2  # what submitit asks Slurm to send before the time limit


class Requeued(SystemExit):
    """The job saved its checkpoint and was requeued; its next attempt resumes."""


def ignore_in_worker() -> None:
    """For a job's worker processes. Slurm signals every process of the job step, and SIGUSR2's
    default action ends a process: a sampling worker would die under its pack, which only then
    saves its checkpoints. The job's main process alone checkpoints and requeues."""
    signal.signal(SIGNAL, signal.SIG_IGN)


def checkpoint_before_requeue(trainer: Any) -> None:
    """Defer the requeue signal to the end of the current iteration, if something requeues.

    A no-op unless a Python-level SIGUSR2 handler is installed (submitit installs one in its jobs),
    so plain and local runs are untouched. The hook must run after every other iteration hook, so
    that the iteration's probes are done before the job leaves.
    """
    requeue = signal.getsignal(SIGNAL)
    if not callable(requeue):
        return
    pending: list[tuple[int, Any]] = []
    signal.signal(SIGNAL, lambda signum, frame: pending.append((signum, frame)))
    trainer.iteration_hooks.append(_requeue_hook(pending, requeue))


def _requeue_hook(pending: list, requeue: Callable[[int, Any], None]) -> Callable[[Any], None]:
    def hook(trainer: Any) -> None:
        if not pending:
            return
        # every member's, for a pack, each said in its own log
        for member, path in zip(trainer.members, trainer.save_checkpoint()):
            with about(member.run_dir):
                log.warning(
                    "requeue signal received: saved %s at iteration %d; the job is "
                    "requeued and its next attempt resumes from there",
                    path,
                    trainer.iteration,
                )
        signal.signal(SIGNAL, requeue)
        try:
            requeue(*pending[0])  # submitit: requeue the Slurm job, then exit
        except SystemExit as exit_:
            raise Requeued(exit_.code) from None

    return hook
