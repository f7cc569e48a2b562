"""Entry point of one local-launcher job: ``python -m deep_pg.sweep.local_job <payload> <result>``.

Runs the pickled Hydra job and writes its ``JobReturn`` next to the payload (atomically, so the
launcher reads a whole result or none).
"""
from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
from hydra.core.singleton import Singleton

from deep_pg.atomic import atomic_open
from deep_pg.sweep.jobs import JobFailed, run_sweep_job


def main(payload_path: str, result_path: str) -> None:
    job = cloudpickle.loads(Path(payload_path).read_bytes())
    Singleton.set_state(job.pop("singletons"))
    ret = run_sweep_job(**job)
    try:
        data = cloudpickle.dumps(ret)
    except Exception:  # an exception object that cannot be pickled: keep its message
        ret.return_value = JobFailed(f"{type(ret._return_value).__name__}: {ret._return_value}")
        data = cloudpickle.dumps(ret)
    with atomic_open(Path(result_path), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main(*sys.argv[1:])
