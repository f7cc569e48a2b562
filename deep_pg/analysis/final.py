"""Final reward of a run, with the definition it was computed under always attached.

Two definitions: the mean training return of the last k iterations (default; what deep_pg's
summary.json reports with k=10) and the maximum over training (the reference code's choice,
which flatters: it picks the luckiest iteration, so noise alone raises it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from deep_pg.analysis.errors import AnalysisError

RETURN = "return_mean"


@dataclass(frozen=True)
class FinalReward:
    how: str = "last"  # "last": mean of the last k iterations; "max": max over training
    k: int = 10

    def __post_init__(self):
        if self.how not in ("last", "max"):
            raise AnalysisError(f"final reward: unknown definition {self.how!r} (use last or max)")
        if self.how == "last" and self.k < 1:
            raise AnalysisError(f"final reward: k must be at least 1, got {self.k}")

    @property
    def definition(self) -> str:
        if self.how == "max":
            return "max over training of the per-iteration mean return"
        return (
            f"mean of the per-iteration mean return over the last {self.k} iterations "
            "(iterations that finished no episode are skipped)"
        )

    @classmethod
    def parse(cls, text: str) -> FinalReward:
        """``last``, ``last:20`` or ``max`` (the report's --final option)."""
        how, _, k = text.partition(":")
        try:
            return cls(how, int(k)) if k else cls(how)
        except ValueError as err:
            raise AnalysisError(f"final reward: bad k in {text!r}") from err


def final_rewards(runs, definition: FinalReward = FinalReward()) -> pd.DataFrame:
    """One row per run: the run's config columns, ``final_return`` and ``final_definition``.

    Runs that logged no return get NaN (never dropped: their status column says why)."""
    curves = runs.curves
    if RETURN in curves:
        last_iters = curves[["run_id", "iteration", RETURN]]
        if definition.how == "last":
            # The last k iterations of each run, then the mean of the returns among them.
            last_iters = last_iters.groupby("run_id", sort=False).tail(definition.k)
            value = last_iters.groupby("run_id")[RETURN].mean()
        else:
            value = last_iters.groupby("run_id")[RETURN].max()
    else:
        value = pd.Series(dtype=float)
    out = runs.configs.copy()
    out["final_return"] = out["run_id"].map(value).astype(float)
    out["final_definition"] = definition.definition
    return out
