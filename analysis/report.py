"""`deep-pg-report PATH --out DIR`: every figure the data supports, the tables, and a list of
what could not be drawn, as a static index.html with PNGs and CSVs (opens without a server)."""
from __future__ import annotations

import argparse
import html
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis.ablation import BLOG, HELD_OUT, ablated_cells, toggle_table, tuned_agents, usable
from analysis.comparison import compare_algorithms
from analysis.errors import AnalysisError
from analysis.figures import BUILDERS, MissingData
from analysis.final import FinalReward, final_rewards
from analysis.compact import MANIFEST, find_stores
from analysis.landscape_summary import landscape_tables
from analysis.probe_summary import SUMMARIZED, probe_summary
from analysis.runs import WANDB_PREFIX, Runs, duplicates_message, load_runs
from analysis.schema import ABLATION_TOGGLES
from analysis.toggle_pairs import paired_effects
from analysis.trust_region import trust_region_table
from deep_pg.sweep.packing import available_cores

log = logging.getLogger("analysis")
LOG_FORMAT = "%(levelname)s: %(message)s"
EXIT_BAD_INPUT = 2


@dataclass
class Selection:
    """The ablation's tuned agents by one selection method (ablation.tuned_agents)."""
    method: str
    label: str            # how the tuned agents were chosen (ablation.selection_label)
    best: pd.DataFrame    # best learning rate per configuration
    tuned: pd.DataFrame   # the tuned agents' runs
    toggles: pd.DataFrame  # each toggle on vs off among the tuned agents
    suffix: str = ""       # of its table and figure names: '' for the first method shown, '_blog'


@dataclass
class Context:
    """The analysis tables the figures draw from (computed once)."""
    definition: str
    final: pd.DataFrame
    used: pd.DataFrame
    left_out: pd.DataFrame
    # tuned agents of the ablation, one Selection per method (held-out first when seeds allow)
    selections: list[Selection] = field(default_factory=list)
    ablation_missing: str | None = None
    pairs: pd.DataFrame | None = None  # paired toggle effects over every run of the ablation
    comparison: tuple = (None, None)
    tables: dict[str, tuple[str, pd.DataFrame]] = field(default_factory=dict)


def analyse(runs: Runs, final_reward: FinalReward) -> Context:
    final = final_rewards(runs, final_reward)
    used, left_out = usable(final)
    ctx = Context(final_reward.definition, final, used, left_out)
    missing_toggles = [t for t in ABLATION_TOGGLES if t not in used]
    if used.empty:
        ctx.ablation_missing = "no completed run with a final reward"
    elif missing_toggles:
        ctx.ablation_missing = f"runs lack config column(s) {', '.join(missing_toggles)}"
    else:
        ablated = ablated_cells(used)
        if ablated.empty:
            ctx.ablation_missing = ("no (algo, env) has runs with a toggle both on and off "
                                    "(run the ablation sweep: +sweep=ablation16)")
        else:
            # the held-out choice of LR needs a fresh seed to show; with one seed only the blog's
            methods = (HELD_OUT, BLOG) if ablated["seed"].nunique() >= 2 else (BLOG,)
            for method in methods:  # the first under the plain names, the blog's beside it
                best, tuned, label = tuned_agents(ablated, method)
                suffix = "_blog" if ctx.selections else ""
                ctx.selections.append(Selection(method, label, best, tuned, toggle_table(tuned),
                                                suffix))
            ctx.pairs = paired_effects(used)  # toggles as configured, not ablated's booleans
    if not used.empty:
        ctx.comparison = compare_algorithms(used)

    headline = ["run_id", "algo", "env", "seed", "lr", "status", "iterations",
                "total_iterations", "final_return", "corrupt_lines", "reason"]
    ctx.tables["runs"] = ("Runs", final[headline])
    if len(runs.duplicates):
        shown = runs.duplicates.assign(
            modified=runs.duplicates["modified"].dt.strftime("%Y-%m-%d %H:%M:%S UTC"))
        ctx.tables["duplicates"] = ("Runs left out: repeats of another run's config and seed",
                                    shown)
    for sel in ctx.selections:
        ctx.tables[f"best_lr{sel.suffix}"] = (
            f"Best learning rate per configuration ({sel.label})", sel.best)
        ctx.tables[f"toggles{sel.suffix}"] = (
            f"Tuned agents with each optimization on vs off ({sel.label})", sel.toggles)
    if ctx.pairs is not None and not ctx.pairs.empty:
        ctx.tables["toggle_pairs"] = ("Paired effects: each run with an optimization on against "
                                      "the run that differs in it alone", ctx.pairs)
    trust = trust_region_table(runs.curves, used)
    if not trust.empty:
        ctx.tables["trust_region"] = ("Trust region over training, per run then mean over runs "
                                      "(95% CIs over seeds)", trust)
    for probe in SUMMARIZED:
        table = probe_summary(runs, probe)
        if not table.empty:
            ctx.tables[f"probe_{probe}"] = (f"Probe {probe}: mean over runs (95% CIs)", table)
    landscape, landscape_runs = landscape_tables(runs)
    if not landscape.empty:
        ctx.tables["probe_landscape"] = ("Probe landscape: the grids as correlations and the "
                                         "step's gain, mean over runs (95% CIs)", landscape)
    if (landscape["n_runs"] > 1).any():  # with one run per cell the summary is the run
        ctx.tables["probe_landscape_runs"] = ("Probe landscape, per run (each run's own 95% CI)",
                                              landscape_runs)
    summary, pairs = ctx.comparison
    if summary is not None and not summary.empty:
        ctx.tables["comparison"] = ("Final reward per algorithm (best setting; 95% bootstrap CIs)",
                                    summary)
        if not pairs.empty:
            ctx.tables["improvement"] = ("Probability of improvement P(x > y) (95% CI)", pairs)
    if not left_out.empty:
        ctx.tables["left_out"] = ("Runs left out of the final-reward analysis",
                                  left_out[["run_id", "algo", "env", "seed", "status",
                                            "left_out_because"]])
    if len(runs.problems):
        ctx.tables["problems"] = ("Problems met while loading", runs.problems)
    return ctx


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


# Explanations shown under a table's title.
TABLE_NOTES = {
    "comparison": "setting: the values of the algo.*, opt.* and env.* keys that differ among an "
                  "algorithm's runs on the env, for the setting with the highest mean final "
                  "reward over seeds (its seeds are the n summarized); settings_tried: among how "
                  "many settings it was chosen.",
    "trust_region": "After every update, on its batch: median_mean_kl is the median over "
                    "iterations of the mean KL(old || new); within_delta the share of iterations "
                    "with mean KL ≤ that iteration's δ (TRPO); median/largest_max_ratio the "
                    "median and largest max π_new/π_old; beyond_clip the share of iterations "
                    "with max ratio > 1 + ε (PPO). Each is a per-run value averaged over runs.",
    **{f"probe_{probe}": "Per (env, algo, iteration, variant, measure, sample_count): the mean over "
                         "runs of each run's mean over its trials; the interval is over runs "
                         "when n_runs > 1, else the probe's own over trials (ci_over). "
                         "Definitions: docs/probes.md." for probe in SUMMARIZED},
    "probe_landscape": "Per (env, algo, iteration, step_samples, measure, sample_count), over the "
                       "grid's points: rank_vs_largest, the Spearman correlation of the return "
                       "landscape at sample_count pairs per point with the one at the largest "
                       "count; surrogate_rank, that of the surrogate objective with the return at "
                       "the largest count; step_gain, the return one full step along the step "
                       "minus the return at the origin. One run's interval is over the grid "
                       "points (correlations) or from the two points' own (step_gain); over runs "
                       "when n_runs > 1. Definitions: analysis/landscape_summary.py.",
    "probe_landscape_runs": "The same measures for each run (written when a cell of "
                            "probe_landscape has several runs): a mean over runs can hide runs "
                            "that disagree. Intervals: the run's own, as for one run above.",
    "toggle_pairs": "A pair: two runs with the same config (algo, env and opt settings, "
                    "learning rates and other toggles among them), seed and steps, one with the "
                    "toggle on, one off (every run of the grid, no learning-rate pick). "
                    "mean_diff: mean final return on minus off; on_better: share of pairs where "
                    "on ends higher (ties ½); 95% bootstrap intervals over pairs. "
                    "given/given_state: the pairs where another toggle is on (off); any: all "
                    "pairs. Definitions: analysis/toggle_pairs.py.",
    "duplicates": "Each run here has the same config and seed as the run in same_as, which is "
                  "the one counted.",
}
# Where the text of a column may wrap (other columns: after a space): browsers otherwise break
# inside a token, e.g. after the hyphen of lr=4.5e-4 or 2026-11-22.
_WRAP_ONLY_AFTER = {"run_id": "/", "same_as": "/", "run_dir": "/", "setting": ", "}


def _wrap_only_after(text: str, separator: str) -> str:
    """HTML of ``text`` with line breaks allowed only after ``separator``."""
    if not text:
        return ""
    parts = text.split(separator)
    pieces = [html.escape(part + (separator if i < len(parts) - 1 else ""))
              for i, part in enumerate(parts)]
    return "<wbr>".join(f"<span class='nw'>{piece}</span>" for piece in pieces)


def _table_html(frame: pd.DataFrame) -> str:
    frame = frame.astype(object).where(frame.notna(), "")  # None prints as "None" otherwise
    for column in frame.columns:
        separator = _WRAP_ONLY_AFTER.get(column, " ")
        frame[column] = [value if isinstance(value, (int, float)) and not isinstance(value, bool)
                         else _wrap_only_after(str(value), separator) for value in frame[column]]
    frame.columns = [html.escape(str(column)) for column in frame.columns]
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="",
                         classes="tbl", border=0, escape=False)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555;max-width:900px}
.tbl{border-collapse:collapse;font-size:.82em;margin:.5em 0}
.tbl th,.tbl td{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
.tbl th{background:#f4f4f4} .missing li{margin:.3em 0} .meta{color:#555}
.scroll{max-height:420px;overflow:auto;display:inline-block;max-width:100%}
.nw{white-space:nowrap} .warn{background:#fff4d6;border-left:4px solid #e0a800;padding:.5em .8em}"""


def write_html(out: Path, runs: Runs, ctx: Context, drawn, missing) -> Path:
    e = html.escape
    counts = runs.configs["status"].value_counts().to_dict()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>deep_pg report</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>deep_pg report</h1>",
             f"<p class='meta'>Source: <code>{e(runs.source)}</code> · {len(runs)} runs "
             f"({e(', '.join(f'{v} {k}' for k, v in sorted(counts.items())))}) · "
             f"generated {e(time.strftime('%Y-%m-%d %H:%M'))}</p>",
             f"<p><b>Final reward</b>: {e(ctx.definition)}.</p>"]
    if len(runs.duplicates):
        parts.append(f"<p class='warn'><b>Warning</b>: {e(duplicates_message(runs.duplicates))} "
                     "(table <a href='#duplicates'>duplicates</a>).</p>")
    for note in runs.notes:
        parts.append(f"<p class='meta'>Note: {e(note)}</p>")
    parts.append("<h2>Contents</h2><ul>")
    for section, saved in drawn:
        parts.append(f"<li><a href='#{e(saved[0][0])}'>{e(section)}</a> ({len(saved)})</li>")
    if missing:
        parts.append("<li><a href='#missing'>Figures not drawn</a></li>")
    parts.append("<li><a href='#tables'>Tables</a></li></ul>")
    for section, saved in drawn:
        parts.append(f"<h2 id='{e(saved[0][0])}'>{e(section)}</h2>")
        for file, figure in saved:
            parts.append(f"<figure><h3>{e(figure.title)}</h3><img src='{e(file)}' "
                         f"alt='{e(figure.title)}'><figcaption>{e(figure.caption)}</figcaption>"
                         "</figure>")
    if missing:
        parts.append("<h2 id='missing'>Figures not drawn (no data)</h2><ul class='missing'>")
        parts += [f"<li><b>{e(s)}</b>: {e(why)}</li>" for s, why in missing]
        parts.append("</ul>")
    parts.append("<h2 id='tables'>Tables</h2>")
    for key, (title, frame) in ctx.tables.items():
        note = f" · {e(TABLE_NOTES[key])}" if key in TABLE_NOTES else ""
        parts.append(f"<h3 id='{key}'>{e(title)}</h3><p class='meta'><a href='{key}.csv'>"
                     f"{key}.csv</a> · {len(frame)} rows{note}</p>"
                     f"<div class='scroll'>{_table_html(frame)}</div>")
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path


def make_report(source: str, out: Path, final_reward: FinalReward = FinalReward(),
                group: str | None = None, progress: bool | None = None) -> Path:
    """Load, analyse, draw and write; returns the path of index.html."""
    runs = load_runs(source, group=group, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    ctx = analyse(runs, final_reward)
    for key, (_, frame) in ctx.tables.items():
        frame.to_csv(out / f"{key}.csv", index=False)
    drawn, missing = build_figures(runs, ctx, out)
    path = write_html(out, runs, ctx, drawn, missing)
    log.info("report: %d figures, %d not drawn, %d tables → %s",
             sum(len(s) for _, s in drawn), len(missing), len(ctx.tables), path)
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


def make_study_reports(studies: list[Path], out: Path, final_reward: FinalReward,
                       workers: int | None = None) -> Path:
    """One report per study in ``out/STUDY/``, and an index page linking them (written last, so
    it exists only when every study's report does). Studies are independent and drawing their
    figures is most of the time, so they are made in parallel, one process per available core
    unless ``workers`` says otherwise; an error in any study is raised here."""
    out.mkdir(parents=True, exist_ok=True)
    workers = min(len(studies), workers or available_cores())
    report = partial(make_report, progress=False)
    jobs = ([str(study) for study in studies], [out / study.name for study in studies],
            repeat(final_reward))
    if workers == 1:
        list(map(report, *jobs))
    else:
        with ProcessPoolExecutor(workers, initializer=_log_like_the_parent) as pool:
            list(pool.map(report, *jobs))
    names = [html.escape(study.name) for study in studies]
    items = [f"<li><a href='{name}/index.html'>{name}</a></li>" for name in names]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>deep_pg reports</title>"
            f"<style>{_CSS}</style></head><body><h1>deep_pg reports</h1><p class='meta'>"
            f"One report per study of <code>{html.escape(str(studies[0].parent))}</code></p>"
            f"<ul>{''.join(items)}</ul></body></html>")
    path = out / "index.html"
    path.write_text(page)
    return path


def _log_like_the_parent() -> None:
    """A pool's worker logs as ``main`` configures it (with the spawn start method a worker
    starts without the parent's logging setup)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="deep-pg-report", description=__doc__)
    parser.add_argument("source", help="a sweep/run directory tree, a folder of compact results "
                        "(deep-pg-export; one report per study subfolder), or "
                        "wandb://ENTITY/PROJECT")
    parser.add_argument("--out", type=Path, required=True, help="folder for index.html and files")
    parser.add_argument("--group", help="wandb group (the sweep) to read; wandb sources only")
    parser.add_argument("--final", default="last:10",
                        help="final reward: last:K (mean of the last K iterations, default "
                             "last:10) or max (max over training, the reference code's choice)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--workers", type=int, default=None,
                        help="studies of a results folder reported at once, each in its own "
                             "process (default: one per available core)")
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
            path = make_report(args.source, args.out, final, group=args.group,
                               progress=False if args.no_progress else None)
    except AnalysisError as err:
        print(f"deep-pg-report: error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    print(f"deep-pg-report: wrote {path}")


if __name__ == "__main__":
    main()
