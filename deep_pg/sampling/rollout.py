"""On-policy experience of one run: the member sampler that collects its Rollout.

A ``MemberSampler`` owns everything a run samples with: its environments, its observation
normalizer and reward scaler (which update while sampling), and its action-noise stream. The
policy arrives as numpy arrays each iteration, so the same object can live in this process (a
pack of one) or in a sampling worker process (``deep_pg.sampling.pool``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deep_pg.envs.batch_env import BatchEnv
from deep_pg.envs.normalization import (
    StackedObservationNormalizer,
    StackedRewardScaler,
    build_normalizers,
)
from deep_pg.experience import Rollout
from deep_pg.networks import numpy_mlp

# The entries of MemberSampler.state_dict: a run's checkpoint holds them at its top level.
SAMPLER_STATE = ("env", "obs_normalizer", "reward_scaler", "sampler")


@dataclass
class PolicyArrays:
    """A member's policy as numpy arrays: what a sampler needs to act, cheap to send to a worker."""

    layers: list[tuple[np.ndarray, np.ndarray]]  # (weight (in, out), bias) per layer of the mean
    log_std: np.ndarray  # (act_dim,)
    activation: str

    @classmethod
    def of(cls, policy, activation: str) -> PolicyArrays:
        """A single run's ``GaussianPolicy`` as the arrays a pack member's policy gives."""
        linears = [m for m in policy.mean if isinstance(m, torch.nn.Linear)]
        return cls(
            [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears],
            policy.log_std.detach().numpy().copy(),
            activation,
        )


class MemberSampler:
    """Steps one run's environments with its policy, normalizing observations and scaling rewards
    on the way. ``cfg`` is the run's config; environment i is first reset with ``seed + i``."""

    def __init__(self, cfg):
        self.env = BatchEnv(cfg.env.id, cfg.env.num_envs, cfg.seed, cfg.env.max_episode_steps)
        self.obs_normalizer, self.reward_scaler = build_normalizers(cfg, self.env.obs_dim)
        self.generator = torch.Generator().manual_seed(cfg.seed)  # the stream of action noise
        self._obs = self.obs_normalizer(self.env.obs)
        self.reset_each_iteration = cfg.env.reset_each_iteration

    def collect(self, policy: PolicyArrays, steps_per_env: int) -> Rollout:
        return collect_together([self], [policy], steps_per_env)[0]

    def _restart_unfinished_episodes(self) -> None:
        """env.reset_each_iteration: every env starts the iteration at a fresh episode. An env
        whose episode ended on the last step was reset then and is left as it is."""
        running = self.env.elapsed > 0
        if running.any():
            self.env.restart(running)
            self.reward_scaler.restart(running)
            self._obs[running] = self.obs_normalizer(self.env.obs[running])

    def normalizers(self) -> tuple:
        """Frozen copies of the observation normalizer and reward scaler (for probes)."""
        return self.obs_normalizer.frozen(), self.reward_scaler.frozen()

    def state_dict(self) -> dict[str, Any]:
        """Top-level entries of the run's checkpoint (SAMPLER_STATE; probes read the normalizers
        from there)."""
        return {
            "env": self.env.state_dict(),
            "obs_normalizer": self.obs_normalizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict(),
            "sampler": {"actions": self.generator.get_state(), "obs": self._obs.copy()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.env.load_state_dict(state["env"])
        self.obs_normalizer.load_state_dict(state["obs_normalizer"])
        self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.generator.set_state(state["sampler"]["actions"])
        self._obs = state["sampler"]["obs"].copy()

    def close(self) -> None:
        self.env.close()


def collect_together(
    samplers: Sequence[MemberSampler], policies: Sequence[PolicyArrays], steps_per_env: int
) -> list[Rollout]:
    """Each member's rollout with its policy, all members' environments stepped in lockstep.

    Per time step, one policy forward for all members (their weights stacked), one step of all
    their environments (``BatchEnv.joined``), one update of all their normalizers and reward
    scalers (``deep_pg.envs.normalization.Stacked*``), instead of a Python loop over members:
    with one environment per member that loop, not the physics, was most of a pack's sampling
    time. Every operation is elementwise per member or a per-member matrix product, so member m's
    rollout and state are bit for bit those of ``collect_together([sampler_m], ...)`` alone
    (samplers share an env id, env count and time limit: a pack's members do).
    """
    for sampler in samplers:
        if sampler.reset_each_iteration:
            sampler._restart_unfinished_episodes()
    parts = [sampler.env for sampler in samplers]
    m, n, steps = len(samplers), parts[0].num_envs, steps_per_env
    env = BatchEnv.joined(parts)
    obs_normalizer = StackedObservationNormalizer([s.obs_normalizer for s in samplers])
    reward_scaler = StackedRewardScaler([s.reward_scaler for s in samplers])
    obs = np.empty((m, steps, n, env.obs_dim), dtype=np.float32)
    actions = np.empty((m, steps, n, env.act_dim), dtype=np.float32)
    rewards = np.empty((m, steps, n), dtype=np.float32)
    terminated = np.empty((m, steps, n), dtype=bool)
    truncated = np.empty((m, steps, n), dtype=bool)
    final_obs = np.empty((m, steps, n, env.obs_dim), dtype=np.float32)
    episode_returns: list[list[float]] = [[] for _ in samplers]
    episode_lengths: list[list[int]] = [[] for _ in samplers]
    scaled_noise = np.stack(
        [
            (
                torch.from_numpy(np.exp(policy.log_std))
                * torch.randn((steps, n, env.act_dim), generator=sampler.generator)
            ).numpy()
            for sampler, policy in zip(samplers, policies)
        ]
    )
    policy_mean = stacked_numpy_mlp([policy.layers for policy in policies], policies[0].activation)
    current = np.stack([sampler._obs for sampler in samplers])
    for t in range(steps):
        obs[:, t] = current
        actions[:, t] = policy_mean(obs[:, t]) + scaled_noise[:, t]
        step = env.step(actions[:, t].reshape(m * n, env.act_dim))
        episode_end = (step.terminated | step.truncated).reshape(m, n)
        rewards[:, t] = reward_scaler(step.reward.reshape(m, n), episode_end)
        terminated[:, t] = step.terminated.reshape(m, n)
        truncated[:, t] = step.truncated.reshape(m, n)
        current = obs_normalizer(step.obs.reshape(m, n, env.obs_dim))
        # The state a step ended in is the next observation, except where an episode ended
        # and the env was reset: there it is the episode's last observation.
        final_obs[:, t] = current
        if step.episode_returns:
            rows = np.flatnonzero(episode_end)
            members, envs = np.divmod(rows, n)
            final_obs[members, t, envs] = obs_normalizer.transform_rows(
                step.final_obs[rows], members
            )
            for member, ret, length in zip(members, step.episode_returns, step.episode_lengths):
                episode_returns[member].append(ret)
                episode_lengths[member].append(length)
    env.split(parts)
    obs_normalizer.write_back()
    reward_scaler.write_back()
    for i, sampler in enumerate(samplers):
        sampler._obs = current[i].copy()
    return [
        Rollout(
            obs[i],
            actions[i],
            rewards[i],
            terminated[i],
            truncated[i],
            final_obs[i],
            episode_returns[i],
            episode_lengths[i],
        )
        for i in range(m)
    ]


def stacked_numpy_mlp(
    layers: Sequence[list[tuple[np.ndarray, np.ndarray]]], activation: str
) -> Callable[[np.ndarray], np.ndarray]:
    """``numpy_mlp`` of M members at once on (M, n, in) inputs: one stacked matrix product per
    layer, which numpy computes member by member with the same kernel as the single product, so
    each member's output is bit for bit its own ``numpy_mlp``'s."""
    stacked = [
        (
            np.stack([member[i][0] for member in layers]),
            np.stack([member[i][1] for member in layers])[:, None],
        )
        for i in range(len(layers[0]))
    ]
    return numpy_mlp(stacked, activation)
