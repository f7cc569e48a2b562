"""'did you mean ...' for a name typed wrong: the close spellings (difflib) and the names that
contain what was typed (``lr`` -> ``policy_lr``, ``value_lr``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_SUGGESTIONS = 3


def nearest(name: str, options: Iterable[str]) -> list[str]:
    """Up to MAX_SUGGESTIONS options close to ``name``, closest first."""
    options = [str(o) for o in options]
    close = difflib.get_close_matches(name, options, n=MAX_SUGGESTIONS, cutoff=0.6)
    containing = [o for o in options if name and name.lower() in o.lower() and o not in close]
    return (close + containing)[:MAX_SUGGESTIONS]


def did_you_mean(name: str, options: Iterable[str], prefix: str = "") -> str:
    """'; did you mean 'a' or 'b'?' (each option after ``prefix``), or '' when nothing is close."""
    found = [f"'{prefix}{o}'" for o in nearest(name, options)]
    if not found:
        return ""
    return f"; did you mean {', '.join(found[:-1])}{' or ' if len(found) > 1 else ''}{found[-1]}?"
