"""What a ``probe`` config node selects and how its samples are split into parts, and the checks
of the node that a type cannot express (``validate_probe``, called by ``deep_pg.config.validate``).
Torch-free and below ``deep_pg.config``, so the config checks and the probes read one rule."""

from __future__ import annotations

import logging
from typing import Any

from deep_pg.config_errors import ConfigError

log = logging.getLogger("deep_pg")

PROBES = ("gradient", "value", "baselines", "landscape", "trust_region")
PROBE_NAMES = ("none", *PROBES, "all")


def selected_probes(name: str) -> list[str]:
    """The probes a ``probe`` option runs (`all` = every probe, `none` = none)."""
    return list(PROBES) if name == "all" else [] if name == "none" else [name]


def truth_parts(p) -> int:
    """Parts the gradient probe's "true" sample is drawn in: each half of probe.true_samples / 2
    pairs in parts of at most probe.part_pairs pairs (deep_pg.probes.truth)."""
    return 2 * -(-(p.true_samples // 2) // max(1, p.part_pairs))


def fit_parts(p) -> int:
    """Parts the baselines probe's fit data (probe.value_fit_samples pairs) is drawn in: at most
    probe.part_pairs pairs each."""
    return -(-p.value_fit_samples // max(1, p.part_pairs))


def landscape_parts(p) -> int:
    """Parts of the landscape probe: one return estimate per step batch size, grid point and
    sample count."""
    return len(p.landscape_step_samples) * p.landscape_grid**2 * len(p.landscape_samples)


SHARDED_PROBES = {"gradient": truth_parts, "baselines": fit_parts, "landscape": landscape_parts}


def sharded_parts(p) -> dict[str, int]:
    """The parts of each probe ``p.name`` selects that draws its sample in parts (for shards)."""
    return {
        name: count(p) for name, count in SHARDED_PROBES.items() if name in selected_probes(p.name)
    }


def _check_grid(key: str, values: Any, minimum: int, why: str) -> None:
    values = list(values)
    if not values or any(b <= a for a, b in zip(values, values[1:])) or values[0] < minimum:
        raise ConfigError(
            key, values, f"a non-empty, strictly increasing list of integers >= {minimum} ({why})"
        )


def iteration_count(cfg) -> int:
    """A run's number of training iterations: ``total_steps // algo.steps_per_iter`` (the steps
    that do not fill a last iteration are not taken). The one count the trainer, the probe checks
    and a checkpoint's view use; here, the lowest layer all of them import."""
    return int(cfg.total_steps // cfg.algo.steps_per_iter)


def validate_probe(cfg) -> None:
    p, a = cfg.probe, cfg.algo
    if p.name not in PROBE_NAMES:
        raise ConfigError("probe.name", p.name, " | ".join(PROBE_NAMES))
    num_iterations = iteration_count(cfg)
    iterations = list(p.iterations)
    if any(b <= a_ for a_, b in zip(iterations, iterations[1:])) or any(
        not 0 <= i <= num_iterations for i in iterations
    ):
        raise ConfigError(
            "probe.iterations",
            iterations,
            f"strictly increasing iterations in 0..{num_iterations} (0 = before the "
            f"first update; the run has total_steps // algo.steps_per_iter = {num_iterations})",
        )
    if cfg.opt.lr_anneal and num_iterations in iterations:
        log.warning(
            "probe.iterations includes iteration %d, the run's last: with opt.lr_anneal the "
            "learning rates are 0 there, so the update a probe applies is empty (Adam steps "
            "of size 0: no policy step for PPO, no value refit for any algorithm); probe "
            "iteration %d or earlier to see the policy move",
            num_iterations,
            num_iterations - 1,
        )
    if p.name == "none":  # nothing will be probed: the sample settings do not matter
        return
    one_batch = max(2, a.num_minibatches)
    _check_grid(
        "probe.sample_counts",
        p.sample_counts,
        one_batch,
        "an estimate needs at least one pair per minibatch: "
        f"algo.num_minibatches={a.num_minibatches}",
    )
    _check_grid(
        "probe.landscape_step_samples",
        p.landscape_step_samples,
        one_batch,
        f"a step needs at least one pair per minibatch: algo.num_minibatches={a.num_minibatches}",
    )
    _check_grid("probe.landscape_samples", p.landscape_samples, 1, "pairs per landscape point")
    largest = max(p.sample_counts)
    checks = [
        ("num_estimates", p.num_estimates >= 2, "an integer >= 2 (pairwise similarity needs two)"),
        (
            "true_samples",
            p.true_samples >= max(largest, 2 * one_batch),
            f">= the largest of probe.sample_counts ({largest}) and >= 2 x {one_batch} "
            "(the truth is two halves, each needs one pair per minibatch)",
        ),
        (
            "value_fit_samples",
            p.value_fit_samples >= a.steps_per_iter,
            f">= algo.steps_per_iter={a.steps_per_iter} (at least one batch)",
        ),
        ("heldout_samples", p.heldout_samples >= 2, "an integer >= 2"),
        ("landscape_grid", p.landscape_grid >= 2, "an integer >= 2 (points per axis)"),
        ("landscape_max", p.landscape_max > 0, "a positive number (step units)"),
        ("bootstrap_resamples", p.bootstrap_resamples >= 1, "a positive integer"),
        ("num_workers", p.num_workers >= 1, "a positive integer"),
        ("envs_per_worker", p.envs_per_worker >= 1, "a positive integer"),
        ("part_pairs", p.part_pairs >= 1, "a positive integer"),
    ]
    for key, ok, allowed in checks:
        if not ok:
            raise ConfigError(f"probe.{key}", getattr(p, key), allowed)
    _check_shards(p)


def _check_shards(p) -> None:
    parts = sharded_parts(p)
    if not parts:
        if p.shards != 1:
            raise ConfigError(
                "probe.shards",
                p.shards,
                f"1 for probe={p.name} (only the "
                f"{', '.join(SHARDED_PROBES)} probes draw their samples in shards)",
            )
        return
    most = max(parts.values())
    if not 1 <= p.shards <= most:
        counts = ", ".join(f"{name} {n}" for name, n in parts.items())
        raise ConfigError(
            "probe.shards",
            p.shards,
            f"an integer in 1..{most}, the most parts of a "
            f"selected probe's sample ({counts}; parts of at most probe.part_pairs "
            f"pairs, landscape: one per point and sample count)",
        )
