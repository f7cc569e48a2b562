"""The training loop of a pack: sample, compute advantages, update, measure, checkpoint.

A pack is K runs trained together in one process (``hydra.launcher.pack``); a single run is a
pack of one, through the same code. Each member owns exactly what a run owns: its config, its
run directory, metrics, checkpoints and RNG streams; its initial weights and samples depend only
on its own seed and config.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from deep_pg import checkpoint as ckpt
from deep_pg.algorithms.agents import Agent, PackAgent, initial_agent
from deep_pg.algorithms.batch import Batch, make_pack_batch
from deep_pg.algorithms.metrics import explained_variance, nonfinite_members, trust_region_metrics
from deep_pg.algorithms.registry import run_update
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.config import Activation, ConfigError, to_container, validate
from deep_pg.envs.batch_env import make_env
from deep_pg.identity import IDENTITY_KEYS, run_identity
from deep_pg.probe_settings import iteration_count
from deep_pg.runtime.packing import first_difference, pack_workers
from deep_pg.sampling.pack import PackSampler
from deep_pg.sampling.rollout import SAMPLER_STATE, PolicyArrays
from deep_pg.tracking.run_logs import about
from deep_pg.tracking.run_store import RunStore

log = logging.getLogger("deep_pg")

LAST_CHECKPOINT = ckpt.LAST_CHECKPOINT
FINAL_RETURN_WINDOW = 10  # final return = mean return of the last 10 iterations


def check_same_run(path: Path, saved_config: dict, current_config: dict) -> None:
    """Raise CheckpointError naming the first IDENTITY_KEYS entry that differs."""
    mismatch = ckpt.first_mismatch(run_identity(saved_config), run_identity(current_config))
    if mismatch:
        key, old, new = mismatch
        raise ckpt.CheckpointError(
            f"checkpoint {path} was made with {key}={old!r} but this run has {key}={new!r}; "
            "use the original config or a new run directory"
        )


def completed_run_mismatch(run_dir: Path, cfg) -> str | None:
    """Why the completed run in ``run_dir`` is not a run of ``cfg`` (None if it is one).

    ``cfg`` may be a job config that still holds Hydra's node: only IDENTITY_KEYS are resolved.
    A completed run is only reused for the config it was trained with, so a sweep relaunched
    after an edit of conf/ does not pass old results off as new ones.
    """
    current = {
        k: OmegaConf.to_container(cfg[k], resolve=True, enum_to_str=True)
        if OmegaConf.is_config(cfg[k])
        else cfg[k]
        for k in IDENTITY_KEYS
    }
    try:
        found = ckpt.latest(Path(run_dir))
        if found is None:
            raise ckpt.CheckpointError(f"{Path(run_dir) / LAST_CHECKPOINT} is missing")
        check_same_run(found.path, found.state.get("config", {}), current)
    except ckpt.CheckpointError as err:
        return f"{run_dir} holds a completed run with another config: {err}"
    return None


@dataclass
class Member:
    """What one run of the pack owns."""

    cfg: Any
    run_dir: Path
    config: dict  # the resolved config, as saved in checkpoints
    rng: np.random.Generator  # minibatch shuffling, Fisher subsampling
    store: RunStore
    returns_history: list = field(default_factory=list)


class Trainer:
    """Owns every piece of a pack's training state; ``member_state(m)`` captures all of member m's
    for exact resume, in the same form a run trained alone would save."""

    def __init__(self, cfgs: Sequence, run_dirs: Sequence[Path], workers: int | None = None):
        for cfg in cfgs:
            validate(cfg)
        for cfg in cfgs[1:]:
            difference = first_difference(cfgs[0], cfg)
            if difference:
                key, a, b = difference
                raise ConfigError(
                    key,
                    b,
                    f"the same value for every run of a pack ({a!r}); "
                    "runs that differ here go to different packs",
                )
        cfg = self.cfg = cfgs[0]  # the settings all members share (deep_pg.runtime.packing)
        torch.set_num_threads(cfg.torch_threads)
        try:
            make_env(cfg.env.id).close()
        except ValueError as err:
            raise ConfigError("env.id", cfg.env.id, f"a gymnasium environment id; {err}") from err
        self.members = [
            Member(c, Path(d), to_container(c), np.random.default_rng(c.seed), RunStore(Path(d)))
            for c, d in zip(cfgs, run_dirs)
        ]
        self.sampler = PackSampler(cfgs, pack_workers(len(cfgs)) if workers is None else workers)
        self.slots = list(range(len(cfgs)))  # member index -> sampler slot
        self.obs_dim, self.act_dim = self.sampler.obs_dim, self.sampler.act_dim
        self.num_iterations = iteration_count(cfg)
        self.steps_per_env = cfg.algo.steps_per_iter // cfg.env.num_envs
        self.agent = PackAgent.from_agents(
            [initial_agent(c, self.obs_dim, self.act_dim) for c in cfgs],
            MemberSettings.from_configs(cfgs),
            cfg.algo.family,
        )
        self.iteration, self.env_steps, self.wall_time = 0, 0, 0.0
        # Called after every iteration with the trainer (requeue checks); not in state.
        self.iteration_hooks: list[Callable[[Trainer], None]] = []

    # --- one iteration ------------------------------------------------------------------------
    def collect(self) -> tuple[list, Batch]:
        """Every member's rollout with its current policy, and the pack's batch made from them."""
        cfg, agent = self.cfg, self.agent
        activation = Activation(cfg.opt.activation).value
        log_std = agent.policy.log_std.detach()[:, 0].numpy()
        policies = {
            slot: PolicyArrays(agent.policy.mean.member_arrays(m), log_std[m].copy(), activation)
            for m, slot in enumerate(self.slots)
        }
        by_slot = self.sampler.collect(policies, self.steps_per_env)
        rollouts = [by_slot[slot] for slot in self.slots]
        s = agent.settings
        batch = make_pack_batch(
            rollouts,
            agent.policy,
            agent.value,
            s.gamma,
            s.gae_lambda,
            s.timeout_bootstrap,
            cfg.algo.baseline,
        )
        return rollouts, batch

    def train_iteration(self) -> tuple[list[dict[str, Any]], dict[int, str]]:
        """One iteration of every member: (metrics row per member, {member: failure reason})."""
        cfg, agent, s, start = self.cfg, self.agent, self.agent.settings, time.perf_counter()
        rollouts, batch = self.collect()
        updated = run_update(
            agent,
            batch,
            cfg,
            [m.rng for m in self.members],
            progress=self.iteration / self.num_iterations,
        )
        failed = nonfinite_members(agent, updated)
        measured = {
            "entropy": agent.policy.entropy().detach(),
            "explained_var": explained_variance(batch.values_old, batch.returns),
            **trust_region_metrics(agent.policy, batch, s.report_clip_eps),
        }
        elapsed = time.perf_counter() - start
        self.iteration += 1
        self.env_steps += rollouts[0].num_steps
        self.wall_time += elapsed
        columns = {k: v.tolist() for k, v in {**updated, **measured}.items()}
        rows = []
        for m, (member, rollout) in enumerate(zip(self.members, rollouts)):
            returns = np.asarray(rollout.episode_returns)
            row = {
                "iteration": self.iteration,
                "env_steps": self.env_steps,
                "wall_time": self.wall_time,
                "iter_time": elapsed,
                "sps": rollout.num_steps / elapsed,
                "pack_size": len(self.members),
                "return_mean": float(returns.mean()) if returns.size else None,
                "return_std": float(returns.std()) if returns.size else None,
                "return_count": int(returns.size),
                "episode_length": float(np.mean(rollout.episode_lengths)) if returns.size else None,
                **{k: v[m] for k, v in columns.items()},
            }
            member.returns_history.append(row["return_mean"])
            rows.append(row)
        return rows, failed

    def remove_members(self, indices: Sequence[int]) -> None:
        """Drop members (failed ones) from the pack; the others continue unchanged."""
        keep = [m for m in range(len(self.members)) if m not in set(indices)]
        agents = [self.agent.member(m) for m in keep]
        for m in indices:
            self.sampler.drop(self.slots[m])
        self.members = [self.members[m] for m in keep]
        self.slots = [self.slots[m] for m in keep]
        if self.members:
            self.agent = PackAgent.from_agents(
                agents,
                MemberSettings.from_configs([m.cfg for m in self.members]),
                self.cfg.algo.family,
            )

    # --- state ----------------------------------------------------------------------------------
    def member_state(self, m: int) -> dict[str, Any]:
        member = self.members[m]
        return {
            "config": member.config,
            "agent": self.agent.member(m).state_dict(),
            **self.sampler.state(self.slots[m]),  # env, obs_normalizer, reward_scaler, sampler
            "rng": {"numpy": member.rng.bit_generator.state},
            "counters": {
                "iteration": self.iteration,
                "env_steps": self.env_steps,
                "wall_time": self.wall_time,
            },
            "returns_history": list(member.returns_history),
            "metrics_offset": member.store.metrics_offset(),
        }

    def load_member_state(self, m: int, state: dict[str, Any]) -> None:
        member = self.members[m]
        self.agent.load_member(m, state["agent"])
        self.sampler.load(self.slots[m], {k: state[k] for k in SAMPLER_STATE})
        member.rng.bit_generator.state = state["rng"]["numpy"]
        counters = state["counters"]
        self.iteration, self.env_steps = counters["iteration"], counters["env_steps"]
        self.wall_time = counters["wall_time"]
        member.returns_history = list(state["returns_history"])

    def save_checkpoint(
        self, name: str = LAST_CHECKPOINT, members: Sequence[int] | None = None
    ) -> list[Path]:
        """Write ``name`` in the run directory of every member (or of ``members``); last.pt keeps
        the one it replaces as prev.pt."""
        paths = []
        for m in range(len(self.members)) if members is None else members:
            run_dir = self.members[m].run_dir
            if name == LAST_CHECKPOINT:
                paths.append(ckpt.save_rotating(self.member_state(m), run_dir))
            else:
                ckpt.save_atomic(self.member_state(m), run_dir / name)
                paths.append(run_dir / name)
        return paths

    def resume_if_possible(self) -> list[bool]:
        """Continue each member from its checkpoints/last.pt if it has one (prev.pt if last.pt is
        unreadable, ``ckpt.latest``). Members of a pack must be at the same iteration
        (``deep_pg.run`` packs them so)."""
        resumed = []
        for m, member in enumerate(self.members):
            found = ckpt.latest(member.run_dir)
            if found is None:
                resumed.append(False)
                continue
            path, state = found.path, found.state
            check_same_run(path, state.get("config", {}), member.config)
            try:
                self.load_member_state(m, state)
            except (KeyError, ValueError, RuntimeError) as err:
                raise ckpt.CheckpointError(
                    f"checkpoint {path} does not fit this run: {err}"
                ) from err
            cut = member.store.rewind_metrics(state["metrics_offset"])
            with about(member.run_dir):
                log.info(
                    "resumed from %s at iteration %d (%d env steps)%s%s",
                    path,
                    self.iteration,
                    self.env_steps,
                    f" instead of last.pt ({found.fallback_reason})"
                    if found.fallback_reason
                    else "",
                    f"; dropped {cut} bytes of metrics logged after it" if cut else "",
                )
            resumed.append(True)
        return resumed

    def close(self) -> None:
        self.sampler.close()

    # --- one member, as probes and summaries see it ---------------------------------------------
    def view(self, m: int) -> MemberView:
        return MemberView(self, self.members[m])

    def final_return(self, m: int) -> float | None:
        recent = [
            r for r in self.members[m].returns_history[-FINAL_RETURN_WINDOW:] if r is not None
        ]
        return float(np.mean(recent)) if recent else None

    def final_return_definition(self, m: int) -> str:
        """The window final_return actually averaged: shorter than FINAL_RETURN_WINDOW early on."""
        n = min(FINAL_RETURN_WINDOW, len(self.members[m].returns_history))
        return (
            f"mean return of the last {n} iteration{'' if n == 1 else 's'} "
            "(iterations in which no episode finished are left out)"
        )

    def summary(self, m: int, status: str, reason: str | None = None) -> dict[str, Any]:
        cfg = self.members[m].cfg
        return {
            "status": status,
            "reason": reason,
            "final_return": self.final_return(m),
            "final_return_definition": self.final_return_definition(m),
            "iterations": self.iteration,
            "total_iterations": self.num_iterations,
            "env_steps": self.env_steps,
            "wall_time": self.wall_time,
            "pack_size": len(self.members),
            "algo": cfg.algo.name,
            "env": cfg.env.name,
            "seed": cfg.seed,
        }


class MemberView:
    """One member of a pack with the attributes a single run's trainer offers (cfg, run_dir,
    iteration, agent, normalizers, save_checkpoint): what probes are given."""

    def __init__(self, trainer: Trainer, member: Member):
        self.trainer, self.member = trainer, member
        self.cfg, self.run_dir = member.cfg, member.run_dir
        self.num_iterations = trainer.num_iterations
        self.iteration_hooks: list[Callable[[MemberView], None]] = []

    @property
    def index(self) -> int:
        return self.trainer.members.index(self.member)

    @property
    def iteration(self) -> int:
        return self.trainer.iteration

    @property
    def agent(self) -> Agent:
        return self.trainer.agent.member(self.index)

    @property
    def obs_normalizer(self):
        return self.trainer.sampler.normalizers(self.trainer.slots[self.index])[0]

    @property
    def reward_scaler(self):
        return self.trainer.sampler.normalizers(self.trainer.slots[self.index])[1]

    @property
    def sampler_state(self) -> dict[str, Any]:
        """The member's environments, normalizers and action noise, as its checkpoint holds them."""
        return self.trainer.sampler.state(self.trainer.slots[self.index])

    def save_checkpoint(self, name: str = LAST_CHECKPOINT) -> Path:
        return self.trainer.save_checkpoint(name, [self.index])[0]
