"""Algorithm comparison (PPO vs PPO-M vs TRPO vs TRPO+ ...) on final rewards.

Each algorithm is represented by its best setting, as in the paper's Fig. 8 ("the best
performing hyperparameter configuration"): among runs of one (algo, env) that differ in
settings other than the seed (a learning-rate grid, an ablation), the setting with the highest
mean final reward over seeds. Then `stats.compare_groups` gives mean, median and IQM with their
intervals and the probability of improvement for each pair, and ``min_detectable`` the smallest
difference from a fixed number (a published mean) that the seeds could detect
(``analysis.power``)."""

from __future__ import annotations

import pandas as pd

from deep_pg.analysis.power import min_detectable
from deep_pg.analysis.settings import CELL, setting_labels
from deep_pg.analysis.stats import compare_groups


def best_setting_runs(final: pd.DataFrame) -> pd.DataFrame:
    """The runs of each (algo, env)'s best setting. Column ``setting`` names what was chosen by
    the keys that vary among the cell's runs (`ONLY_SETTING` when none does,
    ``analysis.settings``); ``settings_tried`` says among how many settings."""
    final = final.assign(setting=setting_labels(final))
    parts = []
    for _, cell in final.groupby(CELL, sort=True):
        best = cell.groupby("setting")["final_return"].mean().idxmax()
        parts.append(cell[cell["setting"] == best].assign(settings_tried=cell["setting"].nunique()))
    return pd.concat(parts, ignore_index=True) if parts else final.assign(settings_tried=[])


def compare_algorithms(final: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary per env × algo, probability of improvement per env × ordered algo pair)."""
    chosen = best_setting_runs(final)
    summary, pairs = compare_groups(chosen, group="algo", by=("env",), seed=seed)
    if not summary.empty:
        settings = chosen.groupby(CELL)[["setting", "settings_tried"]].first().reset_index()
        summary = summary.merge(settings, on=CELL, how="left")
        summary["min_detectable"] = [
            min_detectable(sd, n, paired=True) for sd, n in zip(summary["sd"], summary["n"])
        ]
    return summary, pairs
