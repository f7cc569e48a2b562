"""A packed sweep's logs: each run's deep_pg.log holds that run's own lines (its own return), the
pack's log (the launcher's pack_<n>.out) holds the pack's progress line saying it is the pack's,
and the launcher says in words how it packed the sweep, relaunched or not."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from conftest import TINY, run_cli

from deep_pg.tracking.failure import log_traceback
from deep_pg.tracking.progress import fmt_return
from deep_pg.tracking.run_logs import RunLogs, about

PROGRESS = re.compile(r"iteration (\d+)/4 \| (.*)")


def returns_at(run_dir: Path) -> dict[int, float | None]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {row["iteration"]: row["return_mean"] for row in rows}


def progress_lines(text: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for m in map(PROGRESS.search, text.splitlines()) if m}


def test_each_run_of_a_pack_logs_its_own_lines_and_the_pack_its_own(tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        *TINY,
        "seed=0,1",
        "logger.log_every=2",
        "hydra.launcher.pack=2",
        f"hydra.sweep.dir={sweep}",
    ]
    first = run_cli(*args, cwd=tmp_path)
    run_dirs = sorted(p.parent for p in sweep.rglob("metrics.jsonl"))
    assert [d.name for d in run_dirs] == ["seed=0", "seed=1"]
    for run_dir, other in zip(run_dirs, reversed(run_dirs)):
        log_text = (run_dir / "deep_pg.log").read_text()
        assert str(run_dir) in log_text and str(other) not in log_text
        assert "done: final return" in log_text
        assert "pack of 2 runs in one process" in log_text  # how it was trained: its story too
        assert "pack of 2 runs:" not in log_text  # the pack's progress line is the pack's
        own = progress_lines(log_text)
        assert sorted(own) == [2, 4]
        for iteration, text in own.items():
            assert f"| return {fmt_return(returns_at(run_dir)[iteration])} |" in text, text
    pack_log = (sweep / ".local_launcher" / "pack_0.out").read_text()
    lines = progress_lines(pack_log)
    assert sorted(lines) == [2, 4]
    for iteration, text in lines.items():
        returns = [returns_at(d)[iteration] for d in run_dirs]
        assert text.startswith("pack of 2 runs: steps ") and " each | " in text, text
        assert (
            f"return mean {fmt_return(sum(returns) / 2)} (runs {fmt_return(min(returns))} "
            f"to {fmt_return(max(returns))}) | sps "
        ) in text and text.endswith(" in all")
    said = first.stdout + first.stderr
    assert (
        f"local launcher: 2 jobs in {sweep}: 2 to run in 1 pack of up to 2 (sizes 2), "
        "1 at a time" in said
    )
    assert "pack(s)" not in said and "1 packs" not in said and "2 at a time" not in said

    again = run_cli(*args, cwd=tmp_path)
    said = again.stdout + again.stderr
    assert f"local launcher: 2 jobs in {sweep}: all already completed, nothing to run" in said
    assert "0 packs" not in said and "(sizes )" not in said


def test_a_crash_of_the_pack_reaches_every_runs_log_and_a_runs_line_only_its_own(tmp_path):
    run_dirs = [tmp_path / "a", tmp_path / "b"]
    for run_dir in run_dirs:
        run_dir.mkdir()
    logging.getLogger().setLevel(logging.INFO)
    run_logs = RunLogs(run_dirs)
    try:
        with about(run_dirs[0]):
            logging.getLogger("deep_pg").info("a line about run a")
        logging.getLogger("deep_pg").info("a line about the pack")
        try:
            raise ValueError("injected fault")
        except ValueError as err:
            log_traceback(err)
    finally:
        run_logs.close()
    a, b = ((d / "deep_pg.log").read_text() for d in run_dirs)
    assert "a line about run a" in a and "a line about run a" not in b
    assert "a line about the pack" not in a + b
    assert "ValueError: injected fault" in a and "ValueError: injected fault" in b
