"""Sweeps: run-directory naming, the sweep index, the local and Slurm launchers, preemption.

Everything here is about *where and how often* ``run_training`` runs; what one run does is
``deep_pg.run``'s business. The launchers are Hydra launchers selected with
``hydra/launcher=local|slurm`` (``conf/hydra/launcher/``).
"""
