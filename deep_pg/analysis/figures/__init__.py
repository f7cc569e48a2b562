"""The report's figures, in report order. Each builder takes (runs, context) and returns
`Figure`s, or raises `MissingData` saying what the figure would need."""

from deep_pg.analysis.figures.common import Figure, MissingData
from deep_pg.analysis.figures.curves import reward_curves, trust_region_curves
from deep_pg.analysis.figures.gradient import baseline_figures, gradient_figures
from deep_pg.analysis.figures.landscape import concentration_figures, surrogate_figures
from deep_pg.analysis.figures.outcomes import ablation_figures, comparison_figures
from deep_pg.analysis.figures.trust_region import trust_region_probe_figures
from deep_pg.analysis.figures.value import value_figures

# (section title, builder)
BUILDERS = [
    ("Reward curves (Fig. 8)", reward_curves),
    ("Algorithm comparison", comparison_figures),
    ("Ablation of code-level optimizations (blog part 1)", ablation_figures),
    ("Gradient estimates (Figs. 1, 2, 9, 10)", gradient_figures),
    ("Value prediction (Figs. 3, 11, 12)", value_figures),
    ("Baselines (Fig. 4)", baseline_figures),
    ("Reward landscape concentration (Figs. 5, 19, 20)", concentration_figures),
    ("True reward vs surrogate landscapes (Figs. 6, 7, 13-18)", surrogate_figures),
    ("Trust region over training (blog part 3)", trust_region_curves),
    ("Trust region probe: train vs held-out", trust_region_probe_figures),
]

__all__ = ["BUILDERS", "Figure", "MissingData"]
