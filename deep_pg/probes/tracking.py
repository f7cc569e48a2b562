"""Probe results to wandb: a table per probe and iteration, line plots of value vs sample count.
Best effort, like the training logger: wandb trouble is logged once and never stops a probe."""

from __future__ import annotations

from typing import Any

import pandas as pd

from deep_pg.probes.results import MEAN_TRIAL
from deep_pg.tracking.wandb_logger import give_up


def log_probe(run, probe: str, iteration: int, df: pd.DataFrame) -> None:
    if run is None:
        return
    try:
        import wandb

        means = df[df["trial"] == MEAN_TRIAL]
        data: dict[str, Any] = {f"probes/{probe}/table": wandb.Table(dataframe=means)}
        if probe != "landscape":
            for (variant, measure), part in means.groupby(["variant", "measure"]):
                name = f"probes/{probe}/{variant}/{measure}"
                if part["sample_count"].nunique() > 1:  # a curve over sample counts
                    table = wandb.Table(
                        dataframe=part[["sample_count", "value", "ci_low", "ci_high"]]
                    )
                    data[f"{name}/iteration_{iteration}"] = wandb.plot.line(
                        table,
                        "sample_count",
                        "value",
                        title=f"{probe} {variant} {measure}, iteration {iteration}",
                    )
                else:  # one number per iteration: wandb draws it against the step
                    data[name] = float(part["value"].iloc[0])
        run.log(data, step=iteration)
    except Exception as err:  # noqa: BLE001 - the parquet file is the record of truth
        give_up(f"log probe {probe} at iteration {iteration}", err)
