"""Where a packed iteration's time goes: a profile of one pack trained in-process.

    python benchmarks/pack_profile.py --pack 16 --iterations 3 [--env hopper]

Builds the pack a ``+sweep=ablation16`` launch with ``hydra.launcher.pack=K`` makes (the first K
of its 16 configurations), trains it with the sampler in this process (``workers=0``, as a pack
on one core runs, so one profile sees physics, sampling and the update together), and prints
the wall time per iteration split into: MuJoCo physics (``mj_step``), the rest of environment
stepping (the MuJoCo twin's or gymnasium's Python around the physics, resets), the policy
forward pass while sampling, normalizers and reward scaling, GAE and batch assembly, the update
(PPO epochs: forward, backward, Adam), and everything else (the lockstep sampling loop,
metrics, bookkeeping). Shares, not absolute seconds, are what carries across machines.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from deep_pg.cli import CONF_DIR
from deep_pg.trainer import Trainer

TOGGLES = ("lr_anneal", "reward_scaling", "ortho_init", "value_clip")
# Category → the functions (file suffix, name[, caller's file suffix]) whose cumulative time it
# is. None calls another of a different category except env stepping, which calls the physics
# (subtracted); the policy's forward counts only where the rollout calls it (the update's
# forward passes belong to the update).
CATEGORIES = {
    "MuJoCo physics (mj_step)": [("~", "mj_step")],
    "env stepping besides mj_step": [("envs/batch_env.py", "step")],
    "policy forward while sampling": [("networks.py", "forward", "sampling/rollout.py")],
    "normalizers and reward scaling": [
        ("envs/normalization.py", "__call__"),
        ("envs/normalization.py", "transform"),
    ],
    "GAE and batch assembly": [("algorithms/batch.py", "make_pack_batch")],
    "update (epochs, backward, Adam)": [("algorithms/registry.py", "run_update")],
}


def pack_configs(size: int, iterations: int, env: str = "hopper"):
    configs = []
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for bits in range(size):
            flags = [(bits >> (3 - i)) & 1 for i in range(4)]
            overrides = [
                f"opt.{t}={'returns' if on else 'none'}"
                if t == "reward_scaling"
                else f"opt.{t}={'true' if on else 'false'}"
                for t, on in zip(TOGGLES, flags)
            ]
            configs.append(
                compose(
                    config_name="config",
                    overrides=[
                        f"env={env}",
                        "logger.mode=disabled",
                        f"total_steps={(iterations + 2) * 2048}",
                        *overrides,
                    ],
                )
            )
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=3, help="profiled iterations")
    parser.add_argument("--env", default="hopper", help="conf/env name (hopper, humanoid, ...)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfgs = pack_configs(args.pack, args.iterations, args.env)
        trainer = Trainer(cfgs, [Path(tmp) / str(m) for m in range(len(cfgs))], workers=0)
        try:
            trainer.train_iteration()  # warm-up: imports, first allocations
            start = time.perf_counter()
            trainer.train_iteration()
            unprofiled = time.perf_counter() - start
            profile = cProfile.Profile()
            start = time.perf_counter()
            profile.enable()
            for _ in range(args.iterations):
                trainer.train_iteration()
            profile.disable()
            wall = (time.perf_counter() - start) / args.iterations
        finally:
            trainer.close()
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    shares = categorize(stats, args.iterations)
    steps = args.pack * 2048
    print(
        f"pack of {args.pack} PPO runs on {cfgs[0].env.id} (ablation16 configurations), sampler "
        f"in-process: {unprofiled:.2f} s per iteration unprofiled ({steps / unprofiled:,.0f} "
        f"env steps/s); {wall:.2f} s per profiled iteration ({args.iterations} profiled; "
        "cProfile slows Python-level calls most, so their shares below are upper bounds)"
    )
    profiled = sum(shares.values())
    for name, seconds in shares.items():
        print(f"  {name:<34} {seconds:7.3f} s/iteration  {seconds / profiled:6.1%}")


def categorize(stats, iterations: int) -> dict[str, float]:
    """Seconds per iteration in each category, and the rest of ``train_iteration``."""

    def cumulative(file_suffix: str, name: str, caller: str | None = None) -> float:
        seconds = 0.0
        for (file, _, fn), (_, _, _, ct, callers) in stats.items():
            if not (file.endswith(file_suffix) and name in fn):
                continue
            if caller is None:
                seconds += ct
            else:
                seconds += sum(c[3] for (f, _, _), c in callers.items() if f.endswith(caller))
        return seconds

    total = cumulative("trainer.py", "train_iteration") / iterations
    seconds = {
        category: sum(cumulative(*f) for f in functions) / iterations
        for category, functions in CATEGORIES.items()
    }
    seconds["env stepping besides mj_step"] -= seconds["MuJoCo physics (mj_step)"]
    seconds["everything else"] = total - sum(seconds.values())
    return seconds


if __name__ == "__main__":
    sys.exit(main())
