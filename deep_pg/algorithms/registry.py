"""algo.family -> update function. Each takes (agent, batch, cfg, rng) and returns metrics."""
from __future__ import annotations

from deep_pg.algorithms.pg import pg_update
from deep_pg.algorithms.ppo import ppo_update

UPDATES = {
    "ppo": ppo_update,
    "pg": pg_update,
}
