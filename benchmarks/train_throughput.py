"""Training throughput on Hopper-v5: deep_pg PPO and TRPO next to Stable-Baselines3 PPO.

Every contender runs in its own fresh process (one torch thread, the paper's settings: 2048 env
steps per iteration, 32 minibatches, 10 epochs) so peak RSS is its own; contenders alternate
over a few rounds and the best round counts. Prints env steps per second of wall and of CPU
time, each as a ratio to SB3 measured in the same invocation, and peak RSS.

    pip install -e ".[bench]" && python benchmarks/train_throughput.py [--iterations 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

STEPS_PER_ITER = 2048


TIMES: dict[str, float] = {}


@contextmanager
def timed():
    """Wall and CPU seconds of the block. Steps per CPU-second is the fairer figure on a shared
    machine: every contender is single-threaded, so other load inflates wall time, not CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    TIMES["wall"], TIMES["cpu"] = time.perf_counter() - wall, time.process_time() - cpu


def deep_pg(algo: str, iterations: int) -> int:
    from hydra import compose, initialize_config_dir

    from deep_pg.cli import CONF_DIR
    from deep_pg.trainer import Trainer

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                f"algo={algo}",
                "env=hopper",
                "logger.mode=disabled",
                f"total_steps={STEPS_PER_ITER * iterations}",
            ],
        )
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer([cfg], [Path(run_dir)])
        try:
            with timed():
                for _ in range(iterations):
                    trainer.train_iteration()
        finally:
            trainer.close()
    return trainer.env_steps


def sb3_ppo(iterations: int) -> int:
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    model = PPO(
        "MlpPolicy",
        gym.make("Hopper-v5"),
        n_steps=STEPS_PER_ITER,
        batch_size=64,
        n_epochs=10,
        learning_rate=4.5e-4,
        gamma=0.99,
        gae_lambda=0.95,
        device="cpu",
        policy_kwargs={
            "net_arch": {"pi": [64, 64], "vf": [64, 64]},
            "activation_fn": torch.nn.Tanh,
        },
        seed=0,
        verbose=0,
    )
    with timed():
        model.learn(total_timesteps=STEPS_PER_ITER * iterations)
    return model.num_timesteps


CONTENDERS = {
    "sb3_ppo": sb3_ppo,
    "deep_pg_ppo": lambda n: deep_pg("ppo", n),
    "deep_pg_trpo": lambda n: deep_pg("trpo", n),
}


def measure_in_subprocess(name: str, iterations: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", name, "--iterations", str(iterations)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="contenders run interleaved this many times; the best run counts",
    )
    parser.add_argument("--one", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        import torch

        torch.set_num_threads(1)
        steps = CONTENDERS[args.one](args.iterations)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            json.dumps(
                {
                    "sps": steps / TIMES["wall"],
                    "cpu_sps": steps / TIMES["cpu"],
                    "peak_rss_mb": peak_mb,
                }
            )
        )
        return
    # Interleaved rounds, best of each: a load spike on a shared machine hits every contender
    # alike instead of whichever happened to run during it.
    runs: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
    for _ in range(args.rounds):
        for name in CONTENDERS:
            runs[name].append(measure_in_subprocess(name, args.iterations))
    results = {name: max(r, key=lambda x: x["sps"]) for name, r in runs.items()}
    reference = results["sb3_ppo"]
    print(
        f"Hopper-v5, {args.iterations} iterations x {STEPS_PER_ITER} steps, 1 torch thread each, "
        f"best of {args.rounds} interleaved rounds"
    )
    print(
        f"{'contender':<14} {'steps/s':>8} {'ratio':>6} {'steps/CPU-s':>12} {'ratio':>6} "
        f"{'peak RSS MB':>12}"
    )
    for name, r in results.items():
        print(
            f"{name:<14} {r['sps']:>8.0f} {r['sps'] / reference['sps']:>5.2f}x "
            f"{r['cpu_sps']:>12.0f} {r['cpu_sps'] / reference['cpu_sps']:>5.2f}x "
            f"{r['peak_rss_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
