"""Let sweep presets combine as users write them: ``+sweep=ablation16 +sweep=lr_grid``.

Hydra selects several options of one config group only as a list (``+sweep=[ablation16,lr_grid]``)
and rejects a repeated ``+sweep=``; the repeated form is folded into the list before Hydra parses
the command line. Both spellings then mean the same, and presets merge in the order given.
"""
from __future__ import annotations

PREFIX = "+sweep="


def combine_sweep_presets(args: list[str]) -> list[str]:
    presets = []
    for arg in args:
        if arg.startswith(PREFIX):
            value = arg[len(PREFIX):]
            presets.extend(v.strip() for v in value.strip("[]").split(",") if v.strip())
    if sum(arg.startswith(PREFIX) for arg in args) < 2:
        return args
    first = next(i for i, arg in enumerate(args) if arg.startswith(PREFIX))
    rest = [arg for arg in args if not arg.startswith(PREFIX)]
    rest.insert(first, f"{PREFIX}[{','.join(presets)}]")
    return rest
