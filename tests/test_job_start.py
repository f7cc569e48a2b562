"""How a sweep's job processes start: the local launcher's spares (deep_pg.sweep.spares), started
before their jobs, each running at most one job, one no job needs exiting, one that died passed
over; and what the launcher and a training process import. That a spare runs its job with its
output in the job's file is checked by the sweeps of test_sweeps.py and test_pack_logs.py (their
first jobs run in spares)."""

from __future__ import annotations

import os
import subprocess
import sys

from deep_pg.sweep.spares import Spares


def imported_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_a_training_process_leaves_the_probes_statistics_unimported():
    # scipy and pandas add a second to every job's start; only runs that probe need them
    assert imported_after("import deep_pg.run, deep_pg.sweep.local_job", ("scipy", "pandas")) == []


def test_skip_if_done_imports_torch_only_for_a_finished_run(tmp_path):
    # the launcher asks it of every job before anything starts; a fresh sweep has none finished
    code = (
        "from omegaconf import OmegaConf\n"
        "from deep_pg.sweep import apps\n"
        "job = {'name': 'deep_pg'}\n"
        f"sweep = {{'dir': {str(tmp_path)!r}, 'subdir': 'ppo/hopper/seed=0'}}\n"
        "assert not apps.job_done(OmegaConf.create({'hydra': {'job': job, 'sweep': sweep}}))"
    )
    assert imported_after(code, ("torch",)) == []


def test_spares_no_job_needs_exit_cleanly():
    spares = Spares(3, os.environ)
    processes = list(spares._processes)
    spares.keep(1)  # e.g. one pack to run on a 3-core machine
    assert [p.returncode for p in processes[1:]] == [0, 0]
    assert spares._processes == processes[:1] and processes[0].poll() is None
    spares.close()
    assert processes[0].returncode == 0
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
