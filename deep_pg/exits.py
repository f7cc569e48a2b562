"""How a command that does not complete ends: an exit that carries its one-line reason.

``deep-pg`` and ``deep-pg-probe`` print the reason and raise one of these (exit code 2 for bad
input, 1 for a failed run). A sweep job (``deep_pg.sweep.jobs``) catches the same exception and
puts its reason into the failed ``JobReturn`` and the index line, so nothing reads a job's output
to find out why it failed.
"""
from __future__ import annotations


class RunExit(SystemExit):
    exit_code = 1

    def __init__(self, reason: str):
        super().__init__(self.exit_code)
        self.reason = reason

    def __reduce__(self):
        return type(self), (self.reason,)


class BadInput(RunExit):
    """Bad configuration or an unusable checkpoint: nothing was run."""

    exit_code = 2


class RunFailed(RunExit):
    """The run started and failed (NaN/inf, a crash); its summary.json says the same."""

    exit_code = 1
