"""docs/reproduction.md is regenerated from the committed results/, and says what they say.

Every table of the doc preceded by ``<!-- table: STUDY/NAME.csv -->`` is checked against the
table NAME of the report ``deep-pg-report results/`` writes for STUDY: a column whose header is
a CSV column must show that value at the doc's precision (``—``: no value); a column headed
``<col> CI`` must show ``[<col>_low – <col>_high]``; the key columns (``KEYS``: env, algo,
iteration, ...) pick the row. Other columns (the published numbers, verdicts) are the doc's own.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS, DOC = REPO / "results", REPO / "docs" / "reproduction.md"
NOT_APPLICABLE = "—"  # the doc's cell for an empty CSV value (e.g. PPO's share within δ)
MARKER = re.compile(r"<!-- table: ([\w./-]+) -->")
# columns that pick a row (the others are values to check)
KEYS = ("env", "algo", "setting", "seed", "iteration", "variant", "measure", "sample_count", "step_samples",
        "toggle", "config", "x", "y", "given", "given_state")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(RESULTS), "--out",
                           str(out), "--no-progress"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def documented_tables() -> list[tuple[str, list[dict[str, str]]]]:
    """(STUDY/NAME.csv, rows as {header: cell}) for every marked table of the doc."""
    lines, tables = DOC.read_text().splitlines(), []
    for i, line in enumerate(lines):
        match = MARKER.search(line)
        if not match:
            continue
        block = []
        for ln in lines[i + 1:]:
            if not ln.startswith("|"):
                if block:
                    break
                continue
            block.append([c.strip() for c in ln.strip("|").split("|")])
        header, body = block[0], block[2:]  # block[1] is the |---| line
        tables.append((match.group(1), [dict(zip(header, row)) for row in body]))
    return tables


def _number(text: str) -> tuple[float, int]:
    """A number as the doc shows it, and its decimals."""
    text = text.replace(",", "").replace("**", "").strip()
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), decimals


def _same(value, cell: str) -> bool:
    """A CSV value is the doc's key cell (numbers by value: 10000.0 is 10000)."""
    try:
        return float(value) == float(cell)
    except (TypeError, ValueError):
        return str(value) == cell


def _shown(value: float, decimals: int) -> float:
    return round(float(value), decimals)


def test_the_doc_marks_the_tables_it_takes_from_results():
    assert {name.split("/")[0] for name, _ in documented_tables()} >= {"R_hopper", "R_walker2d"}


@pytest.mark.parametrize("name, rows", documented_tables(), ids=lambda v: v if isinstance(v, str) else "")
def test_documented_numbers_are_the_regenerated_ones(report, name, rows):
    table = pd.read_csv(report / name)
    assert rows, f"{name}: the doc's table has no rows"
    for row in rows:
        keys = {k: row[k] for k in KEYS if k in row}
        match = table
        for key, value in keys.items():
            match = match[[_same(v, value) for v in match[key]]]
        assert len(match) == 1, f"{name}: no single row for {keys}"
        found = match.iloc[0]
        for header, cell in row.items():
            if header in KEYS:
                continue
            if header in table.columns and cell == NOT_APPLICABLE:
                assert pd.isna(found[header]), (name, keys, header)
            elif header in table.columns and isinstance(found[header], str):
                assert found[header] == cell, (name, keys, header)
            elif header in table.columns:
                shown, decimals = _number(cell)
                assert _shown(found[header], decimals) == shown, (name, keys, header)
            elif header.endswith(" CI") and f"{header[:-3]}_low" in table.columns:
                low, high = (_number(x) for x in cell.strip("[]").split(" – "))
                column = header[:-3]
                assert _shown(found[f"{column}_low"], low[1]) == low[0], (name, keys, header)
                assert _shown(found[f"{column}_high"], high[1]) == high[0], (name, keys, header)
