"""The report's HTML: a study's ``index.html`` (figures, tables with their notes, what could not
be drawn) and the index page of a results folder (one line per study, from its own metadata)."""

from __future__ import annotations

import html
import time
from pathlib import Path

import pandas as pd

from deep_pg.analysis.probe_summary import SUMMARIZED
from deep_pg.analysis.report_data import Context
from deep_pg.analysis.runs import Runs, duplicates_message

# Explanations shown under a table's title.
TABLE_NOTES = {
    "comparison": "setting: the values of the algo.*, opt.* and env.* keys that differ among an "
    "algorithm's runs on the env, for the setting with the highest mean final "
    "reward over seeds (its seeds are the n summarized); settings_tried: among how "
    "many settings it was chosen. mean: t-interval over the seeds; iqm: bootstrap "
    "interval (BCa from 5 seeds); the interval columns name each with its n, "
    "'95%' only from 5 seeds up. min_detectable: the smallest difference from a "
    "fixed number (a published mean) that n seeds detect (α = 0.05, power 0.8).",
    "improvement": "P(x > y) + ½P(x = y) for a random run of x and one of y (the Mann–Whitney U "
    "over n_x · n_y), with its bootstrap interval over both groups' seeds.",
    "trust_region": "After every update, on its batch: median_mean_kl is the median over "
    "iterations of the mean KL(old || new); within_delta the share of iterations "
    "with mean KL ≤ that iteration's δ (TRPO); median_max_ratio the median max "
    "π_new/π_old; peak_max_ratio each run's largest max ratio (the columns: its "
    "mean over runs, peak_max_ratio_largest the largest of any run); beyond_clip "
    "the share of iterations with max ratio > 1 + ε (PPO). Each is a per-run "
    "value averaged over runs with its t-interval over them.",
    **{
        f"probe_{probe}": "Per (env, algo, iteration, variant, measure, sample_count): "
        "the mean over "
        "runs of each run's mean over its trials; the interval is the t-interval "
        "over runs when n_runs > 1, else the probe's own over its trials "
        "(ci_over; interval names the method and n). Definitions: "
        "docs/probes.md."
        for probe in SUMMARIZED
    },
    "probe_landscape": "Per (env, algo, iteration, step_samples, measure, sample_count), over the "
    "grid's points: rank_vs_largest, the Spearman correlation of the return "
    "landscape at sample_count pairs per point with the one at the largest "
    "count; surrogate_rank, that of the surrogate objective with the return at "
    "the largest count; step_gain, the return one full step along the step "
    "minus the return at the origin. One run's interval is over the grid "
    "points (correlations) or from the two points' own (step_gain); the "
    "t-interval over runs when n_runs > 1. Definitions: "
    "deep_pg/analysis/landscape_summary.py.",
    "probe_landscape_runs": "The same measures for each run (written when a cell of "
    "probe_landscape has several runs): a mean over runs can hide runs "
    "that disagree. Intervals: the run's own, as for one run above.",
    **{
        key: "Each agent's own difference first (per_agent, by seed), then their mean with the "
        "t-interval over the agents, so that agent-to-agent variation is in it; "
        "min_detectable: the smallest mean difference these agents detect (α = 0.05, power "
        "0.8), agents_needed: how many would detect the observed one. Definitions: "
        "deep_pg/analysis/agent_claims.py."
        for key in (
            "claims_baselines",
            "claims_value",
            "claims_gradient",
            "claims_concentration",
            "claims_surrogate",
        )
    },
    "toggles": "IQM of each side and P(on > off) with their bootstrap intervals over the tuned "
    "agents (BCa from 5 a side; interval names it).",
    "toggle_pairs": "A pair: two runs with the same config (algo, env and opt settings, "
    "learning rates and other toggles among them), seed and steps, one with the "
    "toggle on, one off (every run of the grid, no learning-rate pick). "
    "mean_diff: mean final return on minus off; on_better: share of pairs where "
    "on ends higher (ties ½); hierarchical bootstrap intervals (seeds, then "
    "pairs within seeds: the seeds are the independent units). "
    "given/given_state: the pairs where another toggle is on (off); any: all "
    "pairs. Definitions: deep_pg/analysis/toggle_pairs.py.",
    "power": "Two groups (algorithms, toggle on and off): the two-sample t-test at the smaller "
    "group's n with the pooled sd; a difference within units (per seed, per agent): "
    "the one-sample t-test. min_detectable: the smallest true difference detected with "
    "power 0.8 at α = 0.05 (two-sided); units_needed: the n at which the observed "
    "difference would be (10,000: not in any study one would run). "
    "deep_pg/analysis/power.py.",
    "duplicates": "Each run here has the same config and seed as the run in same_as, which is "
    "the one counted.",
}
TABLE_NOTES["toggles_blog"] = TABLE_NOTES["toggles"]
# Where the text of a column may wrap (other columns: after a space): browsers otherwise break
# inside a token, e.g. after the hyphen of lr=4.5e-4 or 2026-11-22.
_WRAP_ONLY_AFTER = {"run_id": "/", "same_as": "/", "run_dir": "/", "setting": ", "}


def _wrap_only_after(text: str, separator: str) -> str:
    """HTML of ``text`` with line breaks allowed only after ``separator``."""
    if not text:
        return ""
    parts = text.split(separator)
    pieces = [
        html.escape(part + (separator if i < len(parts) - 1 else ""))
        for i, part in enumerate(parts)
    ]
    return "<wbr>".join(f"<span class='nw'>{piece}</span>" for piece in pieces)


def _table_html(frame: pd.DataFrame) -> str:
    frame = frame.astype(object).where(frame.notna(), "")  # None prints as "None" otherwise
    for column in frame.columns:
        separator = _WRAP_ONLY_AFTER.get(column, " ")
        frame[column] = [
            value
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else _wrap_only_after(str(value), separator)
            for value in frame[column]
        ]
    frame.columns = [html.escape(str(column)) for column in frame.columns]
    return frame.to_html(
        index=False,
        float_format=lambda v: f"{v:.4g}",
        na_rep="",
        classes="tbl",
        border=0,
        escape=False,
    )


_CSS = (
    """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555;max-width:900px}
.tbl{border-collapse:collapse;font-size:.82em;margin:.5em 0}
.tbl th,.tbl td{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
.tbl th{background:#f4f4f4} .missing li{margin:.3em 0} .meta{color:#555}
.scroll{max-height:420px;overflow:auto;display:inline-block;max-width:100%}
.tbl td.l{text-align:left} .nw{white-space:nowrap} """
    ".warn{background:#fff4d6;border-left:4px solid #e0a800;padding:.5em .8em}"
)


def write_html(out: Path, runs: Runs, ctx: Context, drawn, missing) -> Path:
    e = html.escape
    counts = runs.configs["status"].value_counts().to_dict()
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>deep_pg report</title>"
        f"<style>{_CSS}</style></head><body>",
        "<h1>deep_pg report</h1>",
        f"<p class='meta'>Source: <code>{e(runs.source)}</code> · {len(runs)} runs "
        f"({e(', '.join(f'{v} {k}' for k, v in sorted(counts.items())))}) · "
        f"generated {e(time.strftime('%Y-%m-%d %H:%M'))}</p>",
        f"<p><b>Final reward</b>: {e(ctx.definition)}.</p>",
    ]
    if len(runs.duplicates):
        parts.append(
            f"<p class='warn'><b>Warning</b>: {e(duplicates_message(runs.duplicates))} "
            "(table <a href='#duplicates'>duplicates</a>).</p>"
        )
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
            parts.append(
                f"<figure><h3>{e(figure.title)}</h3><img src='{e(file)}' "
                f"alt='{e(figure.title)}'><figcaption>{e(figure.caption)}</figcaption>"
                "</figure>"
            )
    if missing:
        parts.append("<h2 id='missing'>Figures not drawn (no data)</h2><ul class='missing'>")
        parts += [f"<li><b>{e(s)}</b>: {e(why)}</li>" for s, why in missing]
        parts.append("</ul>")
    parts.append("<h2 id='tables'>Tables</h2>")
    for key, (title, frame) in ctx.tables.items():
        note = f" · {e(TABLE_NOTES[key])}" if key in TABLE_NOTES else ""
        parts.append(
            f"<h3 id='{key}'>{e(title)}</h3><p class='meta'><a href='{key}.csv'>"
            f"{key}.csv</a> · {len(frame)} rows{note}</p>"
            f"<div class='scroll'>{_table_html(frame)}</div>"
        )
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path


def index_page(studies: pd.DataFrame, root: Path) -> str:
    """The index of a results folder's reports: per study (``analysis.studies.study_table``) a
    link, what it holds, its runs, and when, at which commit and on which machine it was made."""
    e = html.escape
    rows = "".join(
        f"<tr><td><a href='{e(r.study)}/index.html'>{e(r.study)}</a></td><td>{r.runs}</td>"
        f"<td class='l'>{e(r.holds)}</td><td>{e(r.runs_dated)}</td><td>{e(r.exported)}</td>"
        f"<td>{e(r.commit)}</td><td class='l'>{e(r.machine)}</td></tr>"
        for r in studies.itertuples(index=False)
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>deep_pg reports</title>"
        f"<style>{_CSS}</style></head><body><h1>deep_pg reports</h1><p class='meta'>"
        f"One report per study of <code>{e(str(root))}</code>, described by its own "
        "metadata (<a href='studies.csv'>studies.csv</a>): runs dated by their last file "
        "write, exported (and merged with --add) at the deep_pg commit and on the machine "
        "named. Each report's tables over all studies, with a study column: "
        "<code>all/&lt;table&gt;.csv</code>.</p><table class='tbl'>"
        "<tr><th>study</th><th>runs</th><th>holds</th>"
        "<th>runs dated</th><th>exported</th><th>commit</th><th>machine</th></tr>"
        f"{rows}</table></body></html>"
    )
