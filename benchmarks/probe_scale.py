"""Probes at scale: a "true" gradient of N pairs on Hopper-v5, unsharded vs sharded, in one
invocation.

    python benchmarks/probe_scale.py --pairs 1000000 --shards 4

From an iteration-0 checkpoint (a one-iteration Hopper run made here), times with
``deep-pg-probe`` as a user runs it:
- unsharded truth: one job drawing the whole "true" sample (all parts: rollouts and per-pair
  gradient sums), ``probe.shards=1 shard=0``;
- sharded truth: ``-m ... probe.shards=S shard=0,..,S-1`` through the local launcher
  (``hydra.launcher.n_jobs`` = the cores), each job drawing its parts; process start-up included;
- with ``--slurm``, the same S shard jobs as one array through ``hydra/launcher=slurm``
  (``cpus_per_task=1``: as many at once as the cluster has cores), submission and polling included;
- with ``--reduce``, the reduce: the gradient probe itself reading those parts (the "true"
  gradient from the sums, the algorithm's step on the N pairs, the K small-sample estimates).
Prints wall time and pairs/s of each truth, their ratio, the reduce's time, and what drawing
paper-scale truths costs in core-hours (each job samples with probe.num_workers processes).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deep_pg.runtime.packing import available_cores

# Small everything but the truth: the estimates at one count, few resamples.
PROBE = [
    "probe=gradient",
    "probe.sample_counts=[2048]",
    "probe.num_estimates=2",
    "probe.bootstrap_resamples=50",
    "logger.mode=disabled",
]
# One core per shard job, as the local launcher runs them; more memory than training needs.
SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=60",
]


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def checkpoint(workdir: Path) -> Path:
    run_dir = workdir / "run"
    run(
        [
            sys.executable,
            "-m",
            "deep_pg",
            "env=hopper",
            "total_steps=2048",
            "probe.iterations=[0]",
            "logger.mode=disabled",
            f"hydra.run.dir={run_dir}",
        ],
        workdir,
    )
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000, help="probe.true_samples")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="probe.num_workers of each job")
    parser.add_argument(
        "--slurm",
        action="store_true",
        help="also draw the S shards through hydra/launcher=slurm (a cluster up)",
    )
    parser.add_argument("--reduce", action="store_true", help="also time the reduce")
    args = parser.parse_args()
    cores = available_cores()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        run_dir = checkpoint(workdir)
        part_pairs = min(65536, args.pairs // (2 * args.shards))  # enough parts for the shards
        settings = [
            f"run_dir={run_dir}",
            "checkpoint=0",
            *PROBE,
            f"probe.true_samples={args.pairs}",
            f"probe.num_workers={args.workers}",
            f"probe.part_pairs={part_pairs}",
        ]
        probe = [sys.executable, "-m", "deep_pg.probe_cli"]
        parts = run_dir / "probes" / "shards"
        unsharded = run([*probe, *settings, "probe.shards=1", "shard=0"], workdir)
        shutil.rmtree(parts)  # the same parts: the sharded jobs would find them drawn
        shard_list = ",".join(map(str, range(args.shards)))
        sharded_jobs = [
            *probe,
            "-m",
            *settings,
            f"probe.shards={args.shards}",
            f"shard={shard_list}",
        ]
        sharded = run(
            [
                *sharded_jobs,
                f"hydra.launcher.n_jobs={cores}",
                f"hydra.sweep.dir={workdir / 'sweep'}",
            ],
            workdir,
        )
        if args.slurm:
            shutil.rmtree(parts)
            on_slurm = run([*sharded_jobs, *SLURM, f"hydra.sweep.dir={workdir / 'slurm'}"], workdir)
        reduce = (
            run([*probe, *settings, f"probe.shards={args.shards}", "force=true"], workdir)
            if args.reduce
            else None
        )
    rate = {"unsharded": args.pairs / unsharded, "sharded": args.pairs / sharded}
    if args.slurm:
        rate["slurm"] = args.pairs / on_slurm
    print(
        f'"true" gradient of {args.pairs:,} pairs on Hopper-v5 (iteration-0 checkpoint), {cores} '
        f"cores, probe.num_workers={args.workers} per job"
    )
    print(f"{'':24}{'wall s':>10}{'pairs/s':>12}")
    print(f"{'unsharded (1 job)':24}{unsharded:10.1f}{rate['unsharded']:12,.0f}")
    print(f"{f'probe.shards={args.shards} (local)':24}{sharded:10.1f}{rate['sharded']:12,.0f}")
    print(
        f"sharded / unsharded: wall x{sharded / unsharded:.2f}, "
        f"pairs/s x{rate['sharded'] / rate['unsharded']:.2f}"
    )
    if args.slurm:
        print(f"{f'probe.shards={args.shards} (Slurm)':24}{on_slurm:10.1f}{rate['slurm']:12,.0f}")
        print(
            f"Slurm / unsharded: wall x{on_slurm / unsharded:.2f}, "
            f"pairs/s x{rate['slurm'] / rate['unsharded']:.2f}"
        )
    if reduce is not None:
        print(f"reduce (gradient probe on the drawn parts): {reduce:.1f} s")
    per_core = rate["unsharded"] / min(args.workers, cores)
    for pairs in (1e6, 1e7):
        hours = 4 * pairs / per_core / 3600
        print(
            f"paper scale: a {pairs:.0e}-pair truth at 4 checkpoints = {hours:.2f} core-hours per "
            f"agent for the truths ({per_core:,.0f} pairs/s per core, unsharded)"
        )


if __name__ == "__main__":
    main()
