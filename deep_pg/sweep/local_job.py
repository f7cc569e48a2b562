"""Entry point of one local-launcher process:
``python -m deep_pg.sweep.local_job <payload> <result>``.

Runs the pickled Hydra job, or pack of jobs, and writes its ``JobReturn`` (a list of them for a
pack) next to the payload (atomically, so the launcher reads a whole result or none). A failed
job's return holds a ``JobFailed`` with its reason (``deep_pg.sweep.jobs``), which always pickles.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn

from deep_pg.atomic import atomic_open
from deep_pg.sweep.jobs import run_sweep_job
from deep_pg.sweep.pack_job import run_pack_job


def main(payload_path: str, result_path: str) -> None:
    job = cloudpickle.loads(Path(payload_path).read_bytes())
    Singleton.set_state(job.pop("singletons"))
    rets: list[JobReturn] | JobReturn
    if "jobs" in job:
        rets = run_pack_job(**job)
    else:
        rets = run_sweep_job(**job)
    with atomic_open(Path(result_path), "wb") as f:
        f.write(cloudpickle.dumps(rets))


if __name__ == "__main__":
    main(*sys.argv[1:])
