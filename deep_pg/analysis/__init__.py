"""deep_pg analysis: run directories or a wandb project → pandas, statistics, figures, a report."""

from deep_pg.analysis.errors import AnalysisError
from deep_pg.analysis.runs import Runs, load_runs

__all__ = ["AnalysisError", "Runs", "load_runs"]
