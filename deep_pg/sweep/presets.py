"""Let sweep presets combine as users write them: ``+sweep=ablation16 +sweep=lr_grid``.

Hydra selects several options of one config group only as a list (``+sweep=[ablation16,lr_grid]``)
and rejects a repeated ``+sweep=``; the repeated form is folded into the list before Hydra parses
the command line. Both spellings then mean the same, and presets merge in the order given.
"""

from __future__ import annotations

PREFIX = "+sweep="


def combine_sweep_presets(args: list[str]) -> list[str]:
    positions = [i for i, arg in enumerate(args) if arg.startswith(PREFIX)]
    if len(positions) < 2:
        return args
    presets = [
        name.strip()
        for i in positions
        for name in args[i][len(PREFIX) :].strip("[]").split(",")
        if name.strip()
    ]
    combined = [arg for i, arg in enumerate(args) if i not in positions]
    combined.insert(positions[0], f"{PREFIX}[{','.join(presets)}]")
    return combined
