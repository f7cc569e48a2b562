"""algo.family -> update rule, and ``run_update``: the one way an update is made (training and
the probes' replay of it alike).

Every update takes (pack agent, batch, cfg, per-member RNGs) and returns (M,) metric tensors;
``cfg`` supplies the settings a pack shares (epochs, minibatches, CG steps: see
``deep_pg.runtime.packing.PACK_KEYS``), ``agent.settings`` the per-member ones.
"""

from __future__ import annotations

import torch

from deep_pg.algorithms.agents import PackAgent
from deep_pg.algorithms.pg import pg_update
from deep_pg.algorithms.ppo import ppo_update
from deep_pg.algorithms.trpo import trpo_update

UPDATES = {
    "ppo": ppo_update,
    "pg": pg_update,
    "trpo": trpo_update,
}


def run_update(agent: PackAgent, batch, cfg, rngs, progress: float) -> dict[str, torch.Tensor]:
    """One update at fraction ``progress`` of training (for schedules: opt.lr_anneal, TRPO's
    algo.max_kl_final); returns the learning rates it used and the update's metrics."""
    rates = agent.schedule(progress)
    family = cfg.algo.family
    extra = {"progress": progress} if family == "trpo" else {}
    return {**rates, **UPDATES[family](agent, batch, cfg, rngs, **extra)}
