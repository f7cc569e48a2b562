"""The normalizers a probe freezes: the agent's own, except before the first update.

A checkpoint at iteration k holds the observation normalizer and reward scaler as they stand
before iteration k's rollout. From iteration 1 on that is, up to the drift one rollout adds (at
most 1/(k+1) of the data), the state training normalizes that rollout with. At iteration 0 it is
the empty state: one observation seen and a standard deviation of about 0.01 in every dimension,
so a frozen copy would feed the policy observations about 100 times their scale (then clipped to
±opt.obs_clip where set): a policy training runs for its first few steps only, since the
statistics build up over the first rollout. At iteration 0 a probe therefore replays training's
first rollout from the checkpoint (the same environments, action noise and policy, hence the
same data: resume is exact) and freezes the normalizers as they stand at its end, the state the
first update's batch was mostly normalized with, and the one iteration 1 starts from.
"""

from __future__ import annotations

import copy

from deep_pg.config import Activation
from deep_pg.envs.normalization import ObservationNormalizer, RewardScaler
from deep_pg.sampling import MemberSampler, PolicyArrays


def probe_normalizers(view) -> tuple[ObservationNormalizer, RewardScaler]:
    """Frozen normalizers for probing ``view`` (a trainer's member or a checkpoint)."""
    if view.iteration > 0:
        return view.obs_normalizer.frozen(), view.reward_scaler.frozen()
    return after_first_rollout(view.cfg, view.agent.policy, view.sampler_state)


def after_first_rollout(
    cfg, policy, sampler_state: dict
) -> tuple[ObservationNormalizer, RewardScaler]:
    """Frozen normalizers at the end of the rollout training collects from ``sampler_state``
    with ``policy`` (one iteration: algo.steps_per_iter pairs)."""
    activation = Activation(cfg.opt.activation).value
    sampler = MemberSampler(cfg)
    try:
        sampler.load_state_dict(copy.deepcopy(sampler_state))
        sampler.collect(
            PolicyArrays.of(policy, activation), cfg.algo.steps_per_iter // cfg.env.num_envs
        )
        return sampler.normalizers()
    finally:
        sampler.close()
