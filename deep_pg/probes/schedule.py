"""Probes during training: at each of probe.iterations (0 = before the first update) keep
``checkpoints/iter_<n>.pt`` (so probes can be re-run later with ``deep-pg-probe``) and run the
selected probes. ``run.py`` creates one ``ProbeSchedule`` per run, on the run's member view
(``deep_pg.trainer.MemberView``); it registers itself as an iteration hook of that view."""

from __future__ import annotations


def iteration_checkpoint(iteration: int) -> str:
    return f"checkpoints/iter_{iteration}.pt"


class ProbeSchedule:
    def __init__(self, view, wandb_run=None):
        self.iterations = set(view.cfg.probe.iterations)
        self.runner = None
        if self.iterations:
            # imported here: the probes' statistics (scipy, pandas) add a second to the start
            # of every training process, most of which probes nothing
            from deep_pg.probes.runner import ProbeRunner

            self.runner = ProbeRunner(view.cfg, view.run_dir, wandb_run)
        if self.runner:
            view.iteration_hooks.append(self)

    def before_training(self, view) -> None:
        """Iteration 0 is probed before the first update (not on a resumed run past it)."""
        if view.iteration == 0:
            self(view)

    def __call__(self, view) -> None:
        if self.runner and view.iteration in self.iterations:
            view.save_checkpoint(iteration_checkpoint(view.iteration))
            if self.runner.probes:
                self.runner.run(view)

    def close(self) -> None:
        if self.runner:
            self.runner.close()
