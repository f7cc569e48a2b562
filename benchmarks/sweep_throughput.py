"""Sweep throughput: the same sweep unpacked (one process per run) and packed, in one invocation.

    python benchmarks/sweep_throughput.py --iterations 10 --pack 16 [--env hopper] [--packs 1,16]

Runs ``deep-pg -m +sweep=ablation16 seed=0,1 env=<env> total_steps=<iterations x 2048>`` with the
local launcher once per entry of ``--packs``, in fresh sweep directories: ``hydra.launcher.pack=1``
(a process per run, one per core) and ``hydra.launcher.pack=K``. Prints each one's total env
steps per second of wall time (process start-up included: it is part of what a sweep costs),
their ratio, the physics-only ceiling measured in the same invocation before and after the sweeps
(raw ``mujoco.mj_step`` with the env's frame skip on the same model plus a numpy [64, 64]
policy, one thread per core; the higher of the two, as other load only lowers it) with each
rate as a fraction of it, and the peak RSS of the processes of each sweep. The same per
CPU-second of the sweep's processes (and of the ceiling's threads): what the code achieves per
core, whatever else loads the machine; wall-clock rates also count cores left idle.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deep_pg.runtime.packing import available_cores

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampling import raw_mujoco_rate

STEPS_PER_ITER = 2048


def run_sweep(
    pack: int, iterations: int, seeds: str, env: str, workdir: Path
) -> tuple[float, float, int, float]:
    """(wall seconds, CPU seconds of the sweep's processes, env steps, peak RSS MB of its
    processes) of one multirun."""
    sweep_dir = workdir / f"pack{pack}"
    cmd = [
        sys.executable,
        "-m",
        "deep_pg",
        "-m",
        "+sweep=ablation16",
        f"env={env}",
        f"seed={seeds}",
        f"total_steps={iterations * STEPS_PER_ITER}",
        "logger.mode=disabled",
        f"hydra.launcher.pack={pack}",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, check=False, cwd=workdir, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(
            f"sweep with pack={pack} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    runs = len(list(sweep_dir.rglob("summary.json")))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, cpu, runs * iterations * STEPS_PER_ITER, peak_mb


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3, help="iterations per run")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--pack", type=int, default=16)
    parser.add_argument("--env", default="hopper", help="conf/env name (hopper, humanoid, ...)")
    parser.add_argument(
        "--packs",
        default=None,
        help="comma-separated hydra.launcher.pack values to run (default: 1,PACK)",
    )
    args = parser.parse_args()
    packs = [int(p) for p in args.packs.split(",")] if args.packs else [1, args.pack]
    cores = available_cores()
    env_id = gym_id(args.env)
    ceilings = [raw_mujoco_rate(env_id, threads=cores, num_data=16 * cores, seconds=5.0)]
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for pack in packs:
            results[pack] = run_sweep(pack, args.iterations, args.seeds, args.env, Path(tmp))
    ceilings.append(raw_mujoco_rate(env_id, threads=cores, num_data=16 * cores, seconds=5.0))
    # Other load on the machine only ever lowers a ceiling: the higher of the two counts.
    ceiling, cpu_ceiling = max(c.wall for c in ceilings), max(c.cpu for c in ceilings)
    print(
        f"sweep: +sweep=ablation16 x seeds {args.seeds} on {env_id}, {args.iterations} "
        f"iterations of {STEPS_PER_ITER} steps per run; {cores} cores"
    )
    print(
        f"physics ceiling (raw mj_step + numpy policy, {cores} threads): "
        f"{ceiling:,.0f} env steps/s "
        f"(the higher of {ceilings[0].wall:,.0f} before and {ceilings[1].wall:,.0f} after the "
        f"sweeps), {cpu_ceiling:,.0f} per CPU-second"
    )
    print(
        f"{'launch':<9} {'wall s':>7} {'CPU s':>7} {'env steps':>10} {'steps/s':>8} "
        f"{'of ceiling':>10} {'steps/CPU-s':>11} {'of CPU ceiling':>14} {'peak RSS MB':>11}"
    )
    rates = {}
    for pack, (wall, cpu, steps, rss) in results.items():
        rates[pack] = steps / wall
        print(
            f"{'pack=' + str(pack):<9} {wall:>7.1f} {cpu:>7.1f} {steps:>10,} {rates[pack]:>8,.0f} "
            f"{rates[pack] / ceiling:>10.0%} {steps / cpu:>11,.0f} "
            f"{steps / cpu / cpu_ceiling:>14.0%} {rss:>11.0f}"
        )
    if 1 in rates:
        for pack in packs:
            if pack != 1:
                print(f"pack={pack} / unpacked: {rates[pack] / rates[1]:.2f}x")


def gym_id(env: str) -> str:
    from hydra import compose, initialize_config_dir

    from deep_pg.cli import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=[f"env={env}"]).env.id


if __name__ == "__main__":
    main()
