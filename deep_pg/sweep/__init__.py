"""Sweeps: launching jobs. The launchers' shared parts (jobs and packs of jobs, preflight checks,
the sweep index, skip-if-done), the sweep config's resolvers and presets.

Everything here is about *where and how often* ``run_training`` runs; what one run does is
``deep_pg.run``'s business, and the rules a running job follows (the packing rule, the requeue on
preemption) are ``deep_pg.runtime``'s. The launchers are Hydra launchers selected with
``hydra/launcher=local|slurm`` (``hydra_plugins/deep_pg_launchers``, ``conf/hydra/launcher/``).
"""
