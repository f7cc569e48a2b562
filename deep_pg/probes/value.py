"""`value` probe (paper §2.2, Figures 3, 11, 12): how well the value network predicts values.

For each of K trials: a fresh training batch from the current policy (the agent's layout), the
algorithm's update applied to a copy of the agent (which fits its value network to that batch), a
held-out batch of probe.heldout_samples fresh pairs from the same policy. With variant ``train``
(on the batch it was fit on) and ``heldout``, the fitted network's error is reported as

deep_pg's definitions, |V - target| / |target| over every state:
- measure ``gae``: targets V_old + A_GAE (what the network is trained to fit, Eq. 4),
- measure ``returns``: discounted Monte-Carlo returns of the infinite-horizon value (what it is
  meant to predict), from steps recorded past each batch; states whose return is not observed
  accurately enough (see ``context.mc_returns``) are left out, and the rows are missing when none
  is (e.g. Pendulum with env.timeout_bootstrap=true: its return is never observed);

the released reference code's definitions (its ``value_loss_returns`` / ``value_loss_gae``), over
the states where no episode ended (time limit included):
- measure ``ref_returns``: |V - R| / |R| with R the discounted sum of the rewards to the end of
  the episode or of the batch's stream, whichever comes first (not extended past the batch; a
  time limit ends the return as a terminal state would);
- measure ``ref_gae_sq``: (V - target)^2 / |target| with the ``gae`` targets, the squared error
  of the value loss training minimizes (``value_errors``: pessimistically clipped around V_old
  when opt.value_clip is on, as the reference's loss is).
"""

from __future__ import annotations

import numpy as np
import torch

from deep_pg.algorithms.losses import value_errors
from deep_pg.algorithms.settings import MemberSettings
from deep_pg.probes.context import ProbeContext, take
from deep_pg.probes.stats import mean_relative_error
from deep_pg.probes.surrogate import algorithm_step


def stream_returns(
    rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's "returns" of (T, N) streams: the discounted reward sum to the episode's end
    (terminal or time limit alike) or to the end of the stream, and the states it scores: those
    where no episode ended."""
    done = terminated | truncated
    returns = np.zeros(rewards.shape, dtype=np.float64)
    running = np.zeros(rewards.shape[1])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * np.where(done[t], 0.0, running)
        returns[t] = running
    return returns, ~done


def squared_relative_error(
    predicted: np.ndarray, targets: np.ndarray, values_old: np.ndarray, settings: MemberSettings
) -> float:
    """The reference's GAE "MRE": mean of (V - target)^2 / |target|, the squared error being the
    value loss's (``value_errors``) under the run's ``settings`` (opt.value_clip)."""
    tensor = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float64))
    errors = value_errors(
        tensor(predicted),
        tensor(values_old),
        tensor(targets),
        settings.value_clip,
        settings.value_clip_eps,
    )
    return float((errors / tensor(targets).abs()).mean())


def error_rows(predicted: np.ndarray, batch, rollout, steps: int, ctx: ProbeContext) -> list[dict]:
    """(measure, num_pairs, value) of every definition, for one fitted network on one batch;
    ``rollout`` extends ``batch``'s streams by ctx.mc_tail steps for the Monte-Carlo returns."""
    gamma, targets = ctx.cfg.algo.gamma, batch.returns.numpy()
    rows = [
        {
            "measure": "gae",
            "num_pairs": targets.size,
            "value": mean_relative_error(predicted, targets),
        }
    ]
    returns, valid = ctx.mc_returns(rollout)
    returns, valid = returns[:steps].reshape(-1), valid[:steps].reshape(-1)
    if valid.any():  # see context.mc_returns for when no return is observable
        rows.append(
            {
                "measure": "returns",
                "num_pairs": int(valid.sum()),
                "value": mean_relative_error(predicted[valid], returns[valid]),
            }
        )
    cut = take(rollout, slice(None), steps)
    ref_returns, kept = (
        x.reshape(-1) for x in stream_returns(cut.rewards, cut.terminated, cut.truncated, gamma)
    )
    if not kept.any():  # every step ended an episode: nothing the reference would score
        return rows
    rows += [
        {
            "measure": "ref_returns",
            "num_pairs": int(kept.sum()),
            "value": mean_relative_error(predicted[kept], ref_returns[kept]),
        },
        {
            "measure": "ref_gae_sq",
            "num_pairs": int(kept.sum()),
            "value": squared_relative_error(
                predicted[kept],
                targets[kept],
                batch.values_old.numpy()[kept],
                MemberSettings.from_configs([ctx.cfg]),
            ),
        },
    ]
    return rows


def run(ctx: ProbeContext) -> list[dict]:
    p, policy = ctx.cfg.probe, ctx.agent.policy
    train_layout = ctx.layout(ctx.cfg.algo.steps_per_iter)
    held_layout = ctx.layout(p.heldout_samples)
    train = ctx.collect_trials(
        p.num_estimates, train_layout[0], train_layout[1] + ctx.mc_tail, policy, "value/train"
    )
    held = ctx.collect_trials(
        p.num_estimates, held_layout[0], held_layout[1] + ctx.mc_tail, policy, "value/heldout"
    )
    rows = []
    for k in range(p.num_estimates):
        train_batch = ctx.batch(take(train[k][0], slice(None), train_layout[1]))
        _, fitted = algorithm_step(
            ctx.agent,
            train_batch,
            ctx.cfg,
            np.random.default_rng(ctx.seed("value/update", k)),
            ctx.progress,
        )
        for variant, (rollout, _), (streams, steps), batch in (
            ("train", train[k], train_layout, train_batch),
            ("heldout", held[k], held_layout, None),
        ):
            if batch is None:
                batch = ctx.batch(take(rollout, slice(None), steps))
            with torch.no_grad():
                predicted = fitted.value(batch.obs).numpy()
            rows += [
                {"variant": variant, "sample_count": streams * steps, "trial": k, **row}
                for row in error_rows(predicted, batch, rollout, steps, ctx)
            ]
    return rows
