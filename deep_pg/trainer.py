"""The training loop: sample, compute advantages, update, measure, record, checkpoint."""
from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from omegaconf import OmegaConf

from deep_pg import checkpoint as ckpt
from deep_pg.algorithms.batch import make_batch
from deep_pg.algorithms.common import (build_agent, check_parameters_finite, explained_variance,
                                       trust_region_metrics)
from deep_pg.algorithms.registry import UPDATES
from deep_pg.config import ConfigError, to_container, validate
from deep_pg.envs.batch_env import BatchEnv
from deep_pg.envs.normalization import build_normalizers
from deep_pg.sampler import Sampler
from deep_pg.tracking.run_store import RunStore

log = logging.getLogger("deep_pg")

LAST_CHECKPOINT = "checkpoints/last.pt"
FINAL_RETURN_WINDOW = 10  # final return = mean return of the last 10 iterations (or fewer)
# A resumed run must match the checkpoint on these config sections (logging, checkpointing
# and probing may change between attempts).
IDENTITY_KEYS = ("algo", "env", "opt", "seed", "total_steps")


def check_same_run(path: Path, saved_config: dict, current_config: dict) -> None:
    """Raise CheckpointError naming the first IDENTITY_KEYS entry that differs."""
    saved = {k: saved_config.get(k) for k in IDENTITY_KEYS}
    mismatch = ckpt.first_mismatch(saved, {k: current_config[k] for k in IDENTITY_KEYS})
    if mismatch:
        key, old, new = mismatch
        raise ckpt.CheckpointError(
            f"checkpoint {path} was made with {key}={old!r} but this run has {key}={new!r}; "
            "use the original config or a new run directory")


def completed_run_mismatch(run_dir: Path, cfg) -> str | None:
    """Why the completed run in ``run_dir`` is not a run of ``cfg`` (None if it is one).

    ``cfg`` may be a job config that still holds Hydra's node: only IDENTITY_KEYS are resolved.
    A completed run is only reused for the config it was trained with, so a sweep relaunched
    after an edit of conf/ does not pass old results off as new ones.
    """
    path = Path(run_dir) / LAST_CHECKPOINT
    current = {k: OmegaConf.to_container(cfg[k], resolve=True, enum_to_str=True)
               if OmegaConf.is_config(cfg[k]) else cfg[k] for k in IDENTITY_KEYS}
    try:
        check_same_run(path, ckpt.load(path).get("config", {}), current)
    except ckpt.CheckpointError as err:
        return f"{run_dir} holds a completed run with another config: {err}"
    return None


class Trainer:
    """Owns every piece of training state; ``state_dict`` captures all of it for exact resume."""

    def __init__(self, cfg, run_dir: Path):
        validate(cfg)
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.config = to_container(cfg)
        torch.set_num_threads(cfg.torch_threads)
        seed = cfg.seed
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # network initialization
        try:
            self.env = BatchEnv(cfg.env.id, cfg.env.num_envs, seed, cfg.env.max_episode_steps)
        except ValueError as err:
            raise ConfigError("env.id", cfg.env.id, f"a gymnasium environment id; {err}") from err
        self.obs_normalizer, self.reward_scaler = build_normalizers(cfg, self.env.obs_dim)
        self.num_iterations = cfg.total_steps // cfg.algo.steps_per_iter
        self.steps_per_env = cfg.algo.steps_per_iter // cfg.env.num_envs
        self.agent = build_agent(cfg, self.env.obs_dim, self.env.act_dim, self.num_iterations)
        self.action_generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)  # minibatch shuffling, Fisher subsampling
        self.sampler = Sampler(self.env, self.agent.policy, self.obs_normalizer,
                               self.reward_scaler, self.action_generator)
        self.update = UPDATES[cfg.algo.family]
        self.store = RunStore(self.run_dir)
        self.iteration, self.env_steps, self.wall_time = 0, 0, 0.0
        self.returns_history: list[float | None] = []
        # Called after every iteration with the trainer (probes, preemption checks); not in state.
        self.iteration_hooks: list[Callable[["Trainer"], None]] = []

    # --- one iteration ------------------------------------------------------------------------
    def train_iteration(self) -> dict[str, Any]:
        cfg, start = self.cfg, time.perf_counter()
        rollout = self.sampler.collect(self.steps_per_env)
        batch = make_batch(rollout, self.agent.policy, self.agent.value, cfg.algo.gamma,
                           cfg.algo.gae_lambda, cfg.env.timeout_bootstrap, cfg.algo.baseline)
        rates = self.agent.learning_rates()  # the rates this update uses
        update_metrics = self.update(self.agent, batch, cfg, self.rng,
                                     progress=self.iteration / self.num_iterations)
        check_parameters_finite(self.agent)
        for scheduler in self.agent.schedulers:
            scheduler.step()
        clip_eps = cfg.algo.clip_eps if cfg.algo.clip_eps is not None else 0.2
        elapsed = time.perf_counter() - start
        self.iteration += 1
        self.env_steps += rollout.num_steps
        self.wall_time += elapsed
        returns = np.asarray(rollout.episode_returns)
        row = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "wall_time": self.wall_time,
            "iter_time": elapsed,
            "sps": rollout.num_steps / elapsed,
            "return_mean": float(returns.mean()) if returns.size else None,
            "return_std": float(returns.std()) if returns.size else None,
            "return_count": int(returns.size),
            "episode_length": float(np.mean(rollout.episode_lengths)) if returns.size else None,
            "entropy": float(self.agent.policy.entropy().detach()),
            "explained_var": explained_variance(batch.values_old, batch.returns),
            **rates,
            **update_metrics,
            **trust_region_metrics(self.agent.policy, batch, clip_eps),
        }
        self.returns_history.append(row["return_mean"])
        return row

    # --- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "agent": self.agent.state_dict(),
            "obs_normalizer": self.obs_normalizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict(),
            "env": self.env.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": {
                "numpy": self.rng.bit_generator.state,
                "actions": self.action_generator.get_state(),
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
            },
            "counters": {"iteration": self.iteration, "env_steps": self.env_steps,
                         "wall_time": self.wall_time},
            "returns_history": list(self.returns_history),
            "metrics_offset": self.store.metrics_offset(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.obs_normalizer.load_state_dict(state["obs_normalizer"])
        self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.env.load_state_dict(state["env"])
        self.sampler.load_state_dict(state["sampler"])
        self.rng.bit_generator.state = state["rng"]["numpy"]
        self.action_generator.set_state(state["rng"]["actions"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        counters = state["counters"]
        self.iteration, self.env_steps = counters["iteration"], counters["env_steps"]
        self.wall_time = counters["wall_time"]
        self.returns_history = list(state["returns_history"])

    def save_checkpoint(self, name: str = LAST_CHECKPOINT) -> Path:
        path = self.run_dir / name
        ckpt.save_atomic(self.state_dict(), path)
        return path

    def resume_if_possible(self) -> bool:
        """Continue from checkpoints/last.pt if the run directory holds one."""
        path = self.run_dir / LAST_CHECKPOINT
        if not path.exists():
            return False
        state = ckpt.load(path)
        check_same_run(path, state.get("config", {}), self.config)
        try:
            self.load_state_dict(state)
        except (KeyError, ValueError, RuntimeError) as err:
            raise ckpt.CheckpointError(f"checkpoint {path} does not fit this run: {err}") from err
        cut = self.store.rewind_metrics(state["metrics_offset"])
        log.info("resumed from %s at iteration %d (%d env steps)%s", path, self.iteration,
                 self.env_steps, f"; dropped {cut} bytes of metrics logged after it" if cut else "")
        return True

    # --- results --------------------------------------------------------------------------------
    def final_return(self) -> float | None:
        recent = [r for r in self.returns_history[-FINAL_RETURN_WINDOW:] if r is not None]
        return float(np.mean(recent)) if recent else None

    def final_return_definition(self) -> str:
        """The window final_return actually averaged: shorter than FINAL_RETURN_WINDOW early on."""
        n = min(FINAL_RETURN_WINDOW, len(self.returns_history))
        return (f"mean return of the last {n} iteration{'' if n == 1 else 's'} "
                "(iterations in which no episode finished are left out)")

    def summary(self, status: str, reason: str | None = None) -> dict[str, Any]:
        return {
            "status": status,
            "reason": reason,
            "final_return": self.final_return(),
            "final_return_definition": self.final_return_definition(),
            "iterations": self.iteration,
            "total_iterations": self.num_iterations,
            "env_steps": self.env_steps,
            "wall_time": self.wall_time,
            "algo": self.cfg.algo.name,
            "env": self.cfg.env.name,
            "seed": self.cfg.seed,
        }
