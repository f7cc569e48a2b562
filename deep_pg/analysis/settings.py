"""Which runs are repeats of one setting: an algorithm's runs on an environment that differ only
in the seed. Tables and figures pool the runs of one setting (its seeds) and never two settings,
so a study that runs one algorithm in several configurations (an ``opt`` toggle on and off, a
learning-rate grid) gets a row, line or panel per configuration instead of a silent average.

A setting is named by the training config keys (``schema.is_identity_key``: algo.*, env.*,
opt.*, total_steps) that vary among the runs of its (algo, env) cell, e.g.
``opt.value_clip=False``; a cell that ran one setting gets ``ONLY_SETTING``.
"""

from __future__ import annotations

import re

import pandas as pd

from deep_pg.analysis.schema import is_identity_key

CELL = ["algo", "env"]
ONLY_SETTING = "the only setting run"


def setting_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that say what was trained, other than the seed."""
    return [c for c in frame.columns if is_identity_key(c) and c not in ("seed", *CELL)]


def setting_labels(frame: pd.DataFrame) -> pd.Series:
    """Per row of ``frame`` (runs with config columns), the name of its setting within its
    (algo, env) cell: ``key=value`` for each key that varies in the cell, else ONLY_SETTING."""
    labels = pd.Series(ONLY_SETTING, index=frame.index, dtype=object)
    columns = setting_columns(frame)
    for _, cell in frame.groupby(CELL, sort=False, dropna=False):
        text = cell[columns].astype(str)
        varying = [c for c in columns if text[c].nunique(dropna=False) > 1]
        if varying:
            labels[cell.index] = [
                ", ".join(f"{c}={v}" for c, v in zip(varying, row))
                for row in text[varying].itertuples(index=False)
            ]
    return labels


def arm(algo: str, setting: str) -> str:
    """What a figure's legend calls the runs of one setting: the algorithm, and the setting
    when the cell ran several."""
    return algo if setting == ONLY_SETTING else f"{algo} ({setting})"


def arms(table: pd.DataFrame) -> pd.Series:
    """``arm`` per row of a table with algo and setting columns."""
    return pd.Series(
        [arm(a, s) for a, s in zip(table["algo"], table["setting"])],
        index=table.index,
        dtype=object,
    )


def arm_file_name(algo: str, setting: str) -> str:
    """``arm`` as a piece of a file name (a figure's): the algorithm alone for its only
    setting, so a study of one setting per algorithm names its figures as before."""
    if setting == ONLY_SETTING:
        return algo
    return f"{algo}_" + re.sub(r"[^A-Za-z0-9.=-]+", "_", setting).strip("_")
