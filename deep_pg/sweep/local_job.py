"""Entry point of one local-launcher process: ``python -m deep_pg.sweep.local_job <payload>
<result>``, or ``python -m deep_pg.sweep.local_job --spare`` for a process started before its job
(``deep_pg.sweep.spares``): it imports what a job needs, then reads ``[payload, result, output]``
as JSON from stdin (nothing: it exits) and runs that job with its output in ``output``.

Runs the pickled Hydra job, or pack of jobs, and writes its ``JobReturn`` (a list of them for a
pack) next to the payload (atomically, so the launcher reads a whole result or none). A failed
job's return holds a ``JobFailed`` with its reason (``deep_pg.sweep.jobs``), which always pickles.
"""

from __future__ import annotations

import gc
import json
import os
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
    # The job is done and its result written: exempt every object from the collections of the
    # interpreter's shutdown, which otherwise spends a quarter second on torch's object graph.
    # atexit handlers (logging's flush, wandb's) still run.
    gc.freeze()


def spare() -> None:
    import deep_pg.run  # noqa: F401  torch, gymnasium, MuJoCo: the bulk of a job's start

    request = sys.stdin.read()
    if not request:
        return
    payload, result, output = json.loads(request)
    with open(output, "w") as out:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    main(payload, result)


if __name__ == "__main__":
    spare() if sys.argv[1:] == ["--spare"] else main(*sys.argv[1:])
