"""The verdict rule of docs/reproduction.md's findings F1–F8, per cell (declared after the data
were seen; the final returns R have a pre-registered rule of their own, docs/preregistration.md).

A cell is one measured comparison (an algorithm on an environment at a checkpoint, a toggle on
an environment): the quantity the paper's claim is about, with its interval across the
independent units (``analysis.stats``). Its verdict, in this order:

- ``tie``: the interval lies within ``threshold ± margin``: whatever the difference, it is
  smaller than the tie margin, so the claim of a difference does not hold there;
- ``holds``: the interval lies on the claim's side of ``threshold`` (either side, for an effect
  whose sign the claim does not state);
- ``contradicted``: the interval lies on the other side;
- ``unresolved``: the interval straddles ``threshold`` and reaches beyond the margin.
"""

from __future__ import annotations

import math

HOLDS, TIE, CONTRADICTED, UNRESOLVED, NO_INTERVAL = (
    "holds",
    "tie",
    "contradicted",
    "unresolved",
    "no interval",
)


def cell_verdict(
    low: float, high: float, above: bool | None = True, threshold: float = 0.0, margin: float = 0.0
) -> str:
    """The verdict of a cell whose claim is "the quantity is above ``threshold``" (``above``),
    "below it" (``not above``) or "away from it, either way" (``above is None``: an effect of
    unstated sign), from the quantity's interval [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return NO_INTERVAL
    if margin > 0 and threshold - margin <= low and high <= threshold + margin:
        return TIE
    if low > threshold:
        return CONTRADICTED if above is False else HOLDS
    if high < threshold:
        return CONTRADICTED if above is True else HOLDS
    return UNRESOLVED
