"""Read a wandb project through the public API and map it onto the run-directory schema.

deep_pg logs to wandb with: the resolved config as a nested dict (``run.config["algo"]["name"]``),
one history row per iteration at ``step=iteration`` holding the metrics.jsonl fields, the
summary.json fields in ``run.summary``, the sweep name as the run's group, and the run name
``<algo>-<env>-s<seed>``. Probe tables live in run directories only, so they are not read here.

Not exercised against the server (unreachable in development): the filter syntax of
nested config keys (``config.algo.name``) and the paging of `scan_history`; the mapping below is
tested on objects with the API's documented fields (id, name, group, state, url, config, summary,
scan_history, heartbeat_at, created_at).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from deep_pg.analysis.errors import AnalysisError
from deep_pg.analysis.local import RunRecord
from deep_pg.analysis.schema import COMPLETED, FAILED, INCOMPLETE, flatten, headline

# wandb run states without a deep_pg summary: crashed/failed processes are failures; the rest
# (running, killed, preempted, a finish without our summary) did not reach the end.
_STATE_STATUS = {"crashed": FAILED, "failed": FAILED}
# wandb's own history keys, not deep_pg metrics.
_WANDB_KEYS = ("_step", "_runtime", "_timestamp", "_wandb")


def parse_path(url: str) -> str:
    """``wandb://entity/project`` → ``entity/project``."""
    path = url.removeprefix("wandb://").strip("/")
    parts = path.split("/")
    if len(parts) != 2 or not all(parts):
        raise AnalysisError(f"{url}: expected wandb://ENTITY/PROJECT")
    return path


def build_filters(
    group: str | None = None,
    algo: str | None = None,
    env: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """MongoDB-style filters for ``Api().runs(filters=...)``: the sweep group, the config keys
    deep_pg logs (``config.algo.name``, ``config.env.name``) and any extra conditions, ANDed."""
    clauses = []
    if group is not None:
        clauses.append({"group": group})
    if algo is not None:
        clauses.append({"config.algo.name": algo})
    if env is not None:
        clauses.append({"config.env.name": env})
    if extra:
        clauses.append(dict(extra))
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def run_status(state: str | None, summary: dict[str, Any]) -> str:
    status = summary.get("status")
    if status in (COMPLETED, FAILED):
        return status
    return _STATE_STATUS.get(str(state), INCOMPLETE)


def history_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """scan_history rows → the metrics.jsonl columns (iteration from ``_step`` if absent)."""
    records = []
    for row in rows:
        row = dict(row)
        if row.get("iteration") is None and row.get("_step") is not None:
            row["iteration"] = row["_step"]
        for key in _WANDB_KEYS:
            row.pop(key, None)
        if row.get("iteration") is not None:
            records.append(row)
    frame = pd.DataFrame.from_records(records)
    if not frame.empty:
        frame = frame.sort_values("iteration", kind="stable").drop_duplicates(
            "iteration", keep="last"
        )
    return frame.reset_index(drop=True)


def last_written(run: Any) -> float | None:
    """When the run last reported (its heartbeat, else its creation), in seconds since the epoch:
    among repeats of one config and seed the latest is kept, as with run directories' files."""
    for key in ("heartbeat_at", "created_at"):
        stamp = getattr(run, key, None)
        if stamp:
            parsed = pd.Timestamp(stamp)
            return (parsed if parsed.tzinfo else parsed.tz_localize("UTC")).timestamp()
    return None


def record_from_api_run(run: Any, project: str) -> RunRecord:
    """One ``wandb.apis.public.Run`` (or anything with its documented fields) → a record."""
    problems = []
    config = flatten({k: v for k, v in dict(run.config).items() if not k.startswith("_")})
    summary = {k: v for k, v in dict(run.summary).items() if not k.startswith("_")}
    try:
        metrics = history_frame(run.scan_history())
    except Exception as err:
        metrics = pd.DataFrame()
        problems.append(f"history unreadable: {type(err).__name__}: {err}")
    if metrics.empty:
        problems.append("no history rows")
    status = run_status(getattr(run, "state", None), summary)
    info = headline(
        f"{project}/{run.id}",
        getattr(run, "url", "") or "",
        config,
        summary,
        status,
        len(metrics),
        corrupt_lines=0,
        modified=last_written(run),
    )
    info.update(config)
    info["wandb_name"] = getattr(run, "name", None)
    info["wandb_group"] = getattr(run, "group", None)
    info["wandb_state"] = getattr(run, "state", None)
    return RunRecord(info=info, metrics=metrics, problems=problems)


def _api():
    """The public API client, with the two usual failures turned into one clear message."""
    try:
        import wandb
    except ImportError as err:  # pragma: no cover - wandb is a dependency
        raise AnalysisError(f"wandb is not installed: {err}") from err
    try:
        return wandb.Api(timeout=30)
    except wandb.errors.UsageError as err:
        raise AnalysisError(
            f"wandb: no credentials ({err}). Run `wandb login` or set "
            "WANDB_API_KEY, or analyse the local run directories instead"
        ) from err


def load_wandb(
    url: str,
    group: str | None = None,
    filters: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> tuple[list[RunRecord], list[str]]:
    from tqdm.auto import tqdm

    project = parse_path(url)
    query = build_filters(group=group, extra=filters)
    api = _api()
    try:
        api_runs = list(api.runs(project, filters=query))
    except Exception as err:  # network, permissions, unknown project
        raise AnalysisError(f"{url}: could not list runs ({type(err).__name__}: {err})") from err
    if not api_runs:
        raise AnalysisError(f"{url}: no runs match {query or 'the project'}")
    show = progress if progress is not None else len(api_runs) >= 20  # each run is a download
    records = [
        record_from_api_run(r, project)
        for r in tqdm(api_runs, desc=f"downloading {project}", unit="run", disable=not show)
    ]
    notes = ["probe tables are read from run directories only; none come from wandb"]
    return records, notes
