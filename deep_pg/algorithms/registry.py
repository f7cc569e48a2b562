"""algo.family -> update function: (agent, batch, cfg, rng, progress) -> metrics dict.

``progress`` is the fraction of training done before this update (for schedules such as TRPO's
algo.max_kl_final); it defaults to 0 so probes can replay an update without it.
"""
from __future__ import annotations

from deep_pg.algorithms.pg import pg_update
from deep_pg.algorithms.ppo import ppo_update
from deep_pg.algorithms.trpo import trpo_update

UPDATES = {
    "ppo": ppo_update,
    "pg": pg_update,
    "trpo": trpo_update,
}
