"""docs/reproduction.md is regenerated from the committed results/, and says what they say.

Every table of the doc preceded by ``<!-- table: PATH -->`` is checked against the CSV at PATH
in the report ``deep-pg-report results/`` writes (``STUDY/NAME.csv`` for one study,
``all/NAME.csv`` for a table over all studies, ``studies.csv`` for the provenance table): a
column whose header is a CSV column must show that value at the doc's precision (``—``: no
value); a column headed ``<col> CI`` must show ``[<col>_low – <col>_high]``; the key columns
(``KEYS``: study, env, algo, iteration, ...) pick the row. A marker that also says
``verdict: COL > T tie ±M`` (``<`` for a claim below T, ``≠`` for an effect of either sign;
M a number or a column of the doc's table) has each row's ``verdict`` recomputed from COL's
interval by the declared rule (``deep_pg.analysis.claim_rule``). Other columns (the published
numbers) are the doc's own. A table preceded by ``<!-- r: cells STUDY... -->`` (or ``r:
comparisons``) holds rows of R's pre-registered rule over the runs of those studies pooled
(``deep_pg.analysis.verdict_r.r_tables``), checked the same way. The page's figures are the ones
``deep_pg.analysis.doc_figures`` draws.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from deep_pg.analysis import load_runs
from deep_pg.analysis.claim_rule import cell_verdict
from deep_pg.analysis.doc_figures import FIGURES, make_figures
from deep_pg.analysis.final import final_rewards
from deep_pg.analysis.verdict_r import r_tables

REPO = Path(__file__).resolve().parents[1]
RESULTS, DOC = REPO / "results", REPO / "docs" / "reproduction.md"
NOT_APPLICABLE = "—"  # the doc's cell for an empty CSV value (e.g. PPO's share within δ)
MARKER = re.compile(
    r"<!-- table: ([\w./-]+)(?: verdict: (\w+) ([<>≠]) (-?[\d.]+)"
    r"(?: tie ±([\w.]+))?)? -->"
)
R_MARKER = re.compile(r"<!-- r: (cells|comparisons)((?: \w+)+) -->")
FIGURE = re.compile(r"\]\(figures/([\w-]+)\.png\)")
MAX_LINES = 700
# columns that pick a row (the others are values to check)
KEYS = (
    "study",
    "preset",
    "env_id",
    "env",
    "algo",
    "setting",
    "seed",
    "iteration",
    "variant",
    "measure",
    "sample_count",
    "step_samples",
    "toggle",
    "config",
    "x",
    "y",
    "given",
    "given_state",
    "comparison",
    "from_iteration",
    "to_iteration",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deep_pg.analysis.report",
            str(RESULTS),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def documented_tables() -> list[tuple[str, list[dict[str, str]]]]:
    """(PATH, rows as {header: cell}) for every marked table of the doc."""
    return [(marker.group(1), rows) for marker, rows in _marked_tables()]


def _marked_tables(marker=MARKER):
    lines, tables = DOC.read_text().splitlines(), []
    for i, line in enumerate(lines):
        match = marker.search(line)
        if not match:
            continue
        block = []
        for ln in lines[i + 1 :]:
            if not ln.startswith("|"):
                if block:
                    break
                continue
            block.append([c.strip() for c in ln.strip("|").split("|")])
        header, body = block[0], block[2:]  # block[1] is the |---| line
        tables.append((match, [dict(zip(header, row)) for row in body]))
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


def _row_of(table: pd.DataFrame, name: str, row: dict[str, str]) -> pd.Series:
    keys = {k: row[k] for k in KEYS if k in row}
    match = table
    for key, value in keys.items():
        match = match[[_same(v, value) for v in match[key]]]
    assert len(match) == 1, f"{name}: no single row for {keys}"
    return match.iloc[0]


def test_the_doc_marks_the_tables_it_takes_from_results():
    names = {name for name, _ in documented_tables()}
    assert "studies.csv" in names  # the provenance table
    assert {"all/comparison.csv", "all/claims_baselines.csv", "all/toggle_pairs.csv"} <= names


def test_the_doc_is_short_enough_to_read_and_shows_its_verdicts_first():
    text = DOC.read_text()
    assert len(text.splitlines()) <= MAX_LINES
    first_table = text.index("\n| ")
    assert text.index("## Verdicts") < first_table < text.index("## Methods")


@pytest.mark.parametrize(
    "marker, rows",
    [(m, r) for m, r in _marked_tables() if m.group(2)],
    ids=lambda v: v.group(1) if isinstance(v, re.Match) else "",
)
def test_each_verdict_is_the_declared_rules(report, marker, rows):
    name, column, sign, threshold, margin = marker.groups()
    table = pd.read_csv(report / name)
    above = {">": True, "<": False, "≠": None}[sign]
    for row in rows:
        found = _row_of(table, name, row)
        tie = (
            0.0
            if margin is None
            else float(row[margin].replace(",", ""))
            if margin in row
            else float(margin)
        )
        expected = cell_verdict(
            found[f"{column}_low"], found[f"{column}_high"], above, float(threshold), tie
        )
        assert row["verdict"] == expected, (name, {k: row[k] for k in KEYS if k in row})


def test_the_figures_the_doc_shows_are_the_ones_the_generator_draws():
    linked = FIGURE.findall(DOC.read_text())
    assert set(FIGURES) <= set(linked), "link each figure of deep_pg.analysis.doc_figures"
    for name in linked:
        path = REPO / "docs" / "figures" / f"{name}.png"
        assert path.is_file() and path.stat().st_size < 200_000, path


def test_the_figure_generator_draws_from_the_committed_results(tmp_path):
    (path,) = make_figures(RESULTS, tmp_path, ["F7_max_ratio"])
    image = plt.imread(path)
    assert image.shape[0] > 100 and image[..., :3].std() > 0.05  # drawn, not blank


WORK_PERIODS = re.compile(
    r"\b(?:this|that|an?|the|earlier|later|next|previous|first|second|"
    r"third|\w+th) sessions?\b|\bissue \d+\b|reproduction_log",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "page", [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_the_docs_say_what_things_are_not_when_they_were_done(page):
    found = [line for line in page.read_text().splitlines() if WORK_PERIODS.search(line)]
    assert not found, found[:3]


@pytest.mark.parametrize(
    "name, rows", documented_tables(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_documented_numbers_are_the_regenerated_ones(report, name, rows):
    _check_rows(pd.read_csv(report / name), name, rows)


@pytest.mark.parametrize(
    "marker, rows",
    _marked_tables(R_MARKER),
    ids=lambda v: v.group(0) if isinstance(v, re.Match) else "",
)
def test_r_tables_are_the_rule_over_the_named_studies(marker, rows):
    kind, studies = marker.group(1), marker.group(2).split()
    final = pd.concat(
        [final_rewards(load_runs(RESULTS / s, progress=False)) for s in studies], ignore_index=True
    )
    cells, comparisons = r_tables(final)
    _check_rows(cells if kind == "cells" else comparisons, marker.group(0), rows)


def _check_rows(table: pd.DataFrame, name: str, rows: list[dict[str, str]]) -> None:
    """Each doc row's values are ``table``'s row with the same keys, at the doc's precision."""
    assert rows, f"{name}: the doc's table has no rows"
    for row in rows:
        keys = {k: row[k] for k in KEYS if k in row}
        found = _row_of(table, name, row)
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
