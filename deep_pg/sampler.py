"""Collect on-policy experience: one batched policy forward per step over all environments."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from deep_pg.envs.batch_env import BatchEnv
from deep_pg.envs.normalization import ObservationNormalizer, RewardScaler
from deep_pg.networks import GaussianPolicy, numpy_forward


@dataclass
class Rollout:
    """``steps`` x ``num_envs`` transitions, time-major, as the agent saw them."""

    obs: np.ndarray  # (T, N, obs_dim) normalized observations the policy acted on
    actions: np.ndarray  # (T, N, act_dim) sampled (unclipped) actions
    rewards: np.ndarray  # (T, N) rewards after scaling / clipping: what the agent learns from
    terminated: np.ndarray  # (T, N) bool
    truncated: np.ndarray  # (T, N) bool: cut by the time limit
    final_obs: np.ndarray  # (T, N, obs_dim) normalized observation each step ended in
    episode_returns: list[float] = field(default_factory=list)  # raw returns of finished episodes
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        return self.rewards.size


class Sampler:
    """Steps a BatchEnv with a policy, normalizing observations and scaling rewards on the way."""

    def __init__(self, env: BatchEnv, policy: GaussianPolicy, obs_normalizer: ObservationNormalizer,
                 reward_scaler: RewardScaler, generator: torch.Generator):
        self.env, self.policy = env, policy
        self.obs_normalizer, self.reward_scaler = obs_normalizer, reward_scaler
        self.generator = generator  # the stream of action noise
        self._obs = obs_normalizer(env.obs)

    def collect(self, steps_per_env: int) -> Rollout:
        env, n = self.env, self.env.num_envs
        obs = np.empty((steps_per_env, n, env.obs_dim), dtype=np.float32)
        actions = np.empty((steps_per_env, n, env.act_dim), dtype=np.float32)
        rewards = np.empty((steps_per_env, n), dtype=np.float32)
        terminated = np.empty((steps_per_env, n), dtype=bool)
        truncated = np.empty((steps_per_env, n), dtype=bool)
        final_obs = np.empty((steps_per_env, n, env.obs_dim), dtype=np.float32)
        episode_returns: list[float] = []
        episode_lengths: list[int] = []
        with torch.inference_mode():
            std = torch.exp(self.policy.log_std)
            noise = torch.randn((steps_per_env, n, env.act_dim), generator=self.generator)
            scaled_noise = (std * noise).numpy()
        policy_mean = numpy_forward(self.policy.mean)  # the policy is fixed during a rollout
        for t in range(steps_per_env):
            obs[t] = self._obs
            actions[t] = policy_mean(obs[t]) + scaled_noise[t]
            step = env.step(actions[t])
            episode_end = step.terminated | step.truncated
            rewards[t] = self.reward_scaler(step.reward, episode_end)
            terminated[t], truncated[t] = step.terminated, step.truncated
            self._obs = self.obs_normalizer(step.obs)
            # The state a step ended in is the next observation, except where an episode ended
            # and the env was reset: there it is the episode's last observation.
            final_obs[t] = self._obs
            if episode_end.any():
                final_obs[t, episode_end] = self.obs_normalizer.transform(step.final_obs[episode_end])
            episode_returns += step.episode_returns
            episode_lengths += step.episode_lengths
        return Rollout(obs, actions, rewards, terminated, truncated, final_obs,
                       episode_returns, episode_lengths)

    def state_dict(self) -> dict:
        return {"obs": self._obs.copy()}

    def load_state_dict(self, state: dict) -> None:
        self._obs = state["obs"].copy()


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, bootstrap: np.ndarray,
        episode_end: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalized advantage estimates, time-major (T, N).

    ``next_values[t]`` is V of the observation step t ended in; ``bootstrap[t]`` is 0 where that
    state is terminal (so its value is 0) and 1 otherwise; ``episode_end[t]`` stops the backward
    recursion at episode boundaries (terminated or truncated).
    """
    advantages = np.zeros_like(rewards)
    last = np.zeros(rewards.shape[1], dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_values[t] * bootstrap[t] - values[t]
        last = delta + gamma * lam * (1.0 - episode_end[t]) * last
        advantages[t] = last
    return advantages
