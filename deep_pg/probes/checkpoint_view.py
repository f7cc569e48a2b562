"""A run's member as a checkpoint holds it, offered as probes see a member being trained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deep_pg.algorithms.agents import initial_agent
from deep_pg.envs.normalization import build_normalizers
from deep_pg.probe_settings import iteration_count
from deep_pg.sampling.rollout import SAMPLER_STATE


class CheckpointView:
    """A member as saved in a checkpoint (``deep-pg-probe``): the agent and frozen normalizers,
    without building a trainer, environments or sampling processes. Offers what a training
    member's view (``deep_pg.trainer.MemberView``) offers probes: cfg, run_dir, iteration,
    num_iterations, agent, obs_normalizer, reward_scaler, sampler_state."""

    def __init__(self, cfg, run_dir: Path, state: dict[str, Any]):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.iteration = state["counters"]["iteration"]
        self.num_iterations = iteration_count(cfg)
        obs_dim = int(np.prod(state["obs_normalizer"]["stats"]["mean"].shape))
        act_dim = int(state["agent"]["policy"]["log_std"].shape[0])
        agent = initial_agent(cfg, obs_dim, act_dim)
        agent.policy.load_state_dict(state["agent"]["policy"])
        agent.value.load_state_dict(state["agent"]["value"])
        agent.policy_optimizer = state["agent"]["policy_optimizer"]
        agent.value_optimizer = state["agent"]["value_optimizer"]
        self.agent = agent
        obs_normalizer, reward_scaler = build_normalizers(cfg, obs_dim)
        obs_normalizer.load_state_dict(state["obs_normalizer"])
        reward_scaler.load_state_dict(state["reward_scaler"])
        self.obs_normalizer, self.reward_scaler = obs_normalizer.frozen(), reward_scaler.frozen()
        self.sampler_state = {k: state[k] for k in SAMPLER_STATE}
