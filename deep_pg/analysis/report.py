"""`deep-pg-report PATH --out DIR`: every figure the data supports, the tables, and a list of
what could not be drawn, as a static index.html with PNGs and CSVs (opens without a server).
A results folder gets one report per study and an index page describing each study
(``analysis.studies``). The analysis is ``analysis.report_data``, the HTML
``analysis.report_html``; this module draws, writes and runs the command."""

from __future__ import annotations

import argparse
import logging
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from itertools import repeat
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from deep_pg import exits
from deep_pg.analysis.compact import MANIFEST, find_stores
from deep_pg.analysis.errors import AnalysisError
from deep_pg.analysis.figures import BUILDERS, MissingData
from deep_pg.analysis.final import FinalReward
from deep_pg.analysis.power import power_text
from deep_pg.analysis.report_data import Context, analyse
from deep_pg.analysis.report_html import index_page, write_html
from deep_pg.analysis.runs import WANDB_PREFIX, Runs, load_runs
from deep_pg.analysis.studies import study_table
from deep_pg.runtime.packing import available_cores

log = logging.getLogger("analysis")
LOG_FORMAT = "%(levelname)s: %(message)s"
POWER_LINES = 12  # of each study's power table printed; the rest is in power.csv
ACROSS = "all"  # the folder of a results folder's report with each table over all studies


def build_figures(runs: Runs, ctx: Context, out: Path):
    """Save every figure as PNG; returns ([(section, [(file, figure)])], [(section, reason)])."""
    drawn, missing = [], []
    for section, builder in BUILDERS:
        try:
            figures = builder(runs, ctx)
        except MissingData as why:
            missing.append((section, str(why)))
            continue
        if not figures:
            missing.append((section, "nothing to draw for these runs"))
            continue
        saved = []
        for figure in figures:
            path = out / f"{figure.name}.png"
            figure.fig.savefig(path, dpi=100)
            plt.close(figure.fig)
            saved.append((path.name, figure))
        drawn.append((section, saved))
    return drawn, missing


def make_report(
    source: str,
    out: Path,
    final_reward: FinalReward = FinalReward(),  # noqa: B008 (frozen: one shared value is safe)
    group: str | None = None,
    progress: bool | None = None,
) -> Path:
    """Load, analyse, draw and write; returns the path of index.html."""
    runs = load_runs(source, group=group, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    ctx = analyse(runs, final_reward)
    for key, (_, frame) in ctx.tables.items():
        frame.to_csv(out / f"{key}.csv", index=False)
    drawn, missing = build_figures(runs, ctx, out)
    path = write_html(out, runs, ctx, drawn, missing)
    log.info(
        "report: %d figures, %d not drawn, %d tables → %s",
        sum(len(s) for _, s in drawn),
        len(missing),
        len(ctx.tables),
        path,
    )
    if not ctx.power.empty:
        log.info(
            "power of %s (α = 0.05, power 0.8):\n%s", out.name, power_text(ctx.power, POWER_LINES)
        )
    return path


def study_dirs(source: str) -> list[Path]:
    """The studies of a results folder: its subfolders holding compact stores
    (`analysis.compact`). Each study gets its own report in a folder of its name, however many
    there are: runs of different studies (a 16-way ablation, a comparison at tuned settings) must
    not be pooled, and a study's report is at the same place when another study joins."""
    root = Path(source)
    if source.startswith(WANDB_PREFIX) or not root.is_dir() or (root / MANIFEST).is_file():
        return []
    studies = sorted({root / store.relative_to(root).parts[0] for store in find_stores(root)})
    return studies


def make_study_reports(
    studies: list[Path], out: Path, final_reward: FinalReward, workers: int | None = None
) -> Path:
    """One report per study in ``out/STUDY/``, each table over all studies in ``out/all/``, and
    an index page linking them with each study's description, also as ``studies.csv`` (written
    last, so they exist only when every study's report does). Studies are independent and drawing
    their figures is most of the time, so they are made in parallel, one process per available core
    unless ``workers`` says otherwise; an error in any study is raised here."""
    out.mkdir(parents=True, exist_ok=True)
    workers = min(len(studies), workers or available_cores())
    report = partial(make_report, progress=False)
    jobs = (
        [str(study) for study in studies],
        [out / study.name for study in studies],
        repeat(final_reward),
    )
    if workers == 1:
        list(map(report, *jobs))
    else:
        with ProcessPoolExecutor(workers, initializer=_log_like_the_parent) as pool:
            list(pool.map(report, *jobs))
    _tables_across_studies(studies, out)
    table = study_table(studies)
    table.to_csv(out / "studies.csv", index=False)
    path = out / "index.html"
    path.write_text(index_page(table, studies[0].parent))
    return path


def _tables_across_studies(studies: list[Path], out: Path) -> None:
    """Each table name of the studies' reports as one CSV over all of them, in ``out/all/``,
    its first column ``study``: a document quoting several studies reads one table."""
    by_name: dict[str, list[pd.DataFrame]] = {}
    for study in studies:
        for path in sorted((out / study.name).glob("*.csv")):
            table = pd.read_csv(path)
            by_name.setdefault(path.stem, []).append(table.assign(study=study.name))
    (out / ACROSS).mkdir(exist_ok=True)
    for name, tables in by_name.items():
        table = pd.concat(tables, ignore_index=True)
        table[["study", *(c for c in table.columns if c != "study")]].to_csv(
            out / ACROSS / f"{name}.csv", index=False
        )


def _log_like_the_parent() -> None:
    """A pool's worker logs as ``main`` configures it (with the spawn start method a worker
    starts without the parent's logging setup)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="deep-pg-report", description=__doc__)
    parser.add_argument(
        "source",
        help="a sweep/run directory tree, a folder of compact results "
        "(deep-pg-export; one report per study subfolder), or "
        "wandb://ENTITY/PROJECT",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for index.html and files")
    parser.add_argument("--group", help="wandb group (the sweep) to read; wandb sources only")
    parser.add_argument(
        "--final",
        default="last:10",
        help="final reward: last:K (mean of the last K iterations, default "
        "last:10) or max (max over training, the reference code's choice)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="studies of a results folder reported at once, each in its own "
        "process (default: one per available core)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        final = FinalReward.parse(args.final)
        if args.workers is not None and args.workers < 1:
            raise AnalysisError(f"--workers: must be at least 1, got {args.workers}")
        studies = study_dirs(args.source)
        if studies and args.group is None:
            path = make_study_reports(studies, args.out, final, workers=args.workers)
        else:
            path = make_report(
                args.source,
                args.out,
                final,
                group=args.group,
                progress=False if args.no_progress else None,
            )
    except AnalysisError as err:
        exits.fail(str(err), program="deep-pg-report")
    print(f"deep-pg-report: wrote {path}")


if __name__ == "__main__":
    main()
