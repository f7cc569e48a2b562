"""Sweep throughput: the same sweep unpacked (one process per run) and packed, in one invocation.

    python benchmarks/sweep_throughput.py --iterations 3 --pack 16

Runs ``deep-pg -m +sweep=ablation16 seed=0,1 env=hopper total_steps=<iterations x 2048>`` with the
local launcher twice, in fresh sweep directories: ``hydra.launcher.pack=1`` (today's way: a
process per run, one per core) and ``hydra.launcher.pack=K``. Prints each one's total env steps
per second of wall time (process start-up included: it is part of what a sweep costs), their
ratio, the physics-only ceiling measured in the same invocation (raw ``mujoco.mj_step`` with the
env's frame skip on the same model plus a numpy [64, 64] policy, one thread per core) with each
rate as a fraction of it, and the peak RSS of the processes of each sweep.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deep_pg.sweep.packing import available_cores

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampling import raw_mujoco_rate  # noqa: E402  (the same ceiling as the sampling benchmark)

STEPS_PER_ITER = 2048


def run_sweep(pack: int, iterations: int, seeds: str, workdir: Path) -> tuple[float, int, float]:
    """(wall seconds, env steps, peak RSS MB of the sweep's processes) of one multirun."""
    sweep_dir = workdir / f"pack{pack}"
    cmd = [sys.executable, "-m", "deep_pg", "-m", "+sweep=ablation16", "env=hopper",
           f"seed={seeds}", f"total_steps={iterations * STEPS_PER_ITER}", "logger.mode=disabled",
           f"hydra.launcher.pack={pack}", f"hydra.sweep.dir={sweep_dir}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"sweep with pack={pack} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    runs = len(list(sweep_dir.rglob("summary.json")))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, runs * iterations * STEPS_PER_ITER, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3, help="iterations per run")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--pack", type=int, default=16)
    args = parser.parse_args()
    cores = available_cores()
    ceiling = raw_mujoco_rate("Hopper-v5", threads=cores, num_data=16 * cores, seconds=5.0).wall
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for pack in (1, args.pack):
            results[pack] = run_sweep(pack, args.iterations, args.seeds, Path(tmp))
    print(f"sweep: +sweep=ablation16 x seeds {args.seeds} on Hopper-v5, {args.iterations} "
          f"iterations of {STEPS_PER_ITER} steps per run; {cores} cores")
    print(f"physics ceiling (raw mj_step + numpy policy, {cores} threads): {ceiling:,.0f} env steps/s")
    print(f"{'launch':<12} {'wall s':>8} {'env steps':>10} {'steps/s':>9} {'of ceiling':>11} {'peak RSS MB':>12}")
    rates = {}
    for pack, (wall, steps, rss) in results.items():
        rates[pack] = steps / wall
        print(f"{'pack=' + str(pack):<12} {wall:>8.1f} {steps:>10,} {rates[pack]:>9,.0f} "
              f"{rates[pack] / ceiling:>10.0%} {rss:>12.0f}")
    print(f"packed / unpacked: {rates[args.pack] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
