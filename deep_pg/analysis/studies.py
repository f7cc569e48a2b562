"""What each study of a results folder is, from its stores' own metadata: the provenance table of
``deep-pg-report results/`` (``studies.csv`` and the index page).

Per study (a folder of ``results/`` holding one or more compact stores, ``analysis.compact``):
what it holds (algorithms, environments, seeds, training length, probes and their iterations,
from ``runs.json`` and the probe tables), how many runs, when its runs last wrote a file, when
and at which deep_pg commit each store was exported (and each ``--add`` merged), and on which
machine. Nothing here is typed by hand: a study describes itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from omegaconf import OmegaConf

from deep_pg.analysis.compact import MANIFEST, PROBES, RUNS, find_stores
from deep_pg.config import OptConfig

COLUMNS = ["study", "runs", "holds", "runs_dated", "exported", "commit", "machine"]
# The paper's order of algorithms and how the docs spell them.
ALGO_NAMES = {
    "ppo": "PPO",
    "ppo_m": "PPO-M",
    "ppo_noclip": "PPO-NoClip",
    "trpo": "TRPO",
    "trpo_plus": "TRPO+",
    "pg": "PG",
}
NOT_RECORDED = "not recorded"


def _day(seconds: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def _span(days: list[str]) -> str:
    days = sorted(set(days))
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def _with_later_keys(infos: list[dict]) -> list[dict]:
    """Runs trained before an ``opt.*`` key existed do not hold it: they ran as its default (a
    key is added with the default that keeps the earlier behaviour), so they count as one setting
    with the later runs at that default. Only absent keys are filled; a null value is kept."""
    defaults = OmegaConf.to_container(OmegaConf.structured(OptConfig), enum_to_str=True)
    assert isinstance(defaults, dict)
    later = {"opt." + str(key): value for key, value in defaults.items()}
    return [{**later, **info} for info in infos]


def _numbers(values) -> str:
    """0, 1, 2 as ``0–2``; other sets listed."""
    values = sorted({int(v) for v in values})
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}–{values[-1]}"
    return ", ".join(str(v) for v in values)


def _steps(steps) -> str:
    steps = sorted({int(s) for s in steps if pd.notna(s)})
    return ", ".join(
        f"{s / 1e6:g}M"
        if s >= 1e6 and s % 100_000 == 0
        else f"{s // 1000}k"
        if s >= 1e4 and s % 1000 == 0
        else f"{s:,}"
        for s in steps
    )


def _probes(stores: list[Path]) -> str:
    """``gradient (0, 150), value (150)``: each probe with the iterations it measured."""
    iterations: dict[str, set[int]] = {}
    for store in stores:
        for path in sorted((store / PROBES).glob("*.parquet")):
            its = pq.read_table(path, columns=["iteration"]).column("iteration").to_pylist()
            iterations.setdefault(path.stem, set()).update(int(i) for i in its)
    return ", ".join(f"{name} ({_numbers(its)})" for name, its in sorted(iterations.items()))


def describe(study: Path) -> dict[str, object]:
    """The provenance row of one study folder (COLUMNS)."""
    stores = find_stores(study)
    manifests = [json.loads((s / MANIFEST).read_text()) for s in stores]
    infos = [run["info"] for s in stores for run in json.loads((s / RUNS).read_text())]
    frame = pd.DataFrame(_with_later_keys(infos))
    order = list(ALGO_NAMES)
    algos = sorted(
        frame["algo"].dropna().unique(),
        key=lambda a: (a not in order, order.index(a) if a in order else 0, a),
    )
    settings = frame.groupby(["algo", "env"]).apply(
        lambda cell: (
            cell.drop(columns=[c for c in cell if not c.startswith(("algo.", "opt."))])
            .astype(str)
            .drop_duplicates()
            .shape[0]
        ),
        include_groups=False,
    )
    holds = (
        f"{', '.join(ALGO_NAMES.get(a, a) for a in algos)} on "
        f"{', '.join(sorted(e.capitalize() for e in frame['env'].dropna().unique()))}; "
        f"seeds {_numbers(frame['seed'].dropna())}; {_steps(frame['total_steps'])} steps"
    )
    if settings.max() > 1:
        holds += f"; {settings.max()} settings per algorithm and environment"
    probes = _probes(stores)
    if probes:
        holds += f"; probes {probes}"
    exports = [entry for m in manifests for entry in [m, *m.get("added", [])]]
    modified = frame["modified"].dropna()
    return {
        "study": study.name,
        "runs": len(frame),
        "holds": holds,
        "runs_dated": _span([_day(s) for s in modified]) if len(modified) else NOT_RECORDED,
        "exported": _span([str(e.get("exported", ""))[:10] for e in exports]),
        "commit": ", ".join(dict.fromkeys(str(e.get("deep_pg_commit")) for e in exports)),
        "machine": "; ".join(dict.fromkeys(str(e.get("machine") or NOT_RECORDED) for e in exports)),
    }


def study_table(studies: list[Path]) -> pd.DataFrame:
    """The provenance table of a results folder's studies, one row each (COLUMNS)."""
    return pd.DataFrame([describe(study) for study in studies], columns=COLUMNS)
