"""Probes during training: at each of probe.iterations (0 = before the first update) keep
``checkpoints/iter_<n>.pt`` (so probes can be re-run later with ``deep-pg-probe``) and run the
selected probes. ``run.py`` creates one ``ProbeSchedule`` per run; it registers itself as an
iteration hook."""

from __future__ import annotations

from deep_pg.probes.runner import ProbeRunner


def iteration_checkpoint(iteration: int) -> str:
    return f"checkpoints/iter_{iteration}.pt"


class ProbeSchedule:
    def __init__(self, trainer, wandb_run=None):
        self.iterations = set(trainer.cfg.probe.iterations)
        self.runner = (
            ProbeRunner(trainer.cfg, trainer.run_dir, wandb_run) if self.iterations else None
        )
        if self.runner:
            trainer.iteration_hooks.append(self)

    def before_training(self, trainer) -> None:
        """Iteration 0 is probed before the first update (not on a resumed run past it)."""
        if trainer.iteration == 0:
            self(trainer)

    def __call__(self, trainer) -> None:
        if self.runner and trainer.iteration in self.iterations:
            trainer.save_checkpoint(iteration_checkpoint(trainer.iteration))
            if self.runner.probes:
                self.runner.run(trainer)

    def close(self) -> None:
        if self.runner:
            self.runner.close()
