"""deep_pg's Hydra launchers (``hydra/launcher=local|slurm``).

Hydra only instantiates launchers defined under the ``hydra_plugins`` namespace package, so they
live here; what they share (job execution, the sweep index, preflight checks) is in
``deep_pg.sweep``, the rules a job follows once it runs (packing, preemption) in
``deep_pg.runtime``.
"""
