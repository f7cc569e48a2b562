"""The local launcher's spare job processes (deep_pg.sweep.spares): started before their jobs,
each runs at most one job; one no job needs exits, one that died is passed over. That a spare
runs its job with its output in the job's file is checked by the sweeps of test_sweeps.py and
test_pack_logs.py (their first jobs run in spares)."""

from __future__ import annotations

import os

from deep_pg.sweep.spares import Spares


def test_spares_no_job_needs_exit_cleanly():
    spares = Spares(2, os.environ)
    processes = list(spares._processes)
    spares.close()
    assert [p.returncode for p in processes] == [0, 0]
    assert spares._processes == []


def test_a_spare_that_died_is_passed_over(tmp_path):
    spares = Spares(1, os.environ)
    [dead] = spares._processes
    dead.kill()
    dead.wait()
    output = tmp_path / "job.out"
    # no live spare: the launcher starts the job in a process of its own
    assert spares.run(tmp_path / "job.pkl", tmp_path / "job.result.pkl", output) is None
    assert not output.exists()
    spares.close()
