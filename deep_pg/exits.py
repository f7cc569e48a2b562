"""How a command that does not complete ends: an exit that carries its one-line reason.

Bad input is one line ``<command>: error: <reason>`` on stderr and exit code 2 (``fail``, the one
place that prints it; ``deep_pg.hydra_errors`` brings Hydra's own errors here too); a failed run
exits 1. The analysis commands (deep-pg-report, deep-pg-export) end bad input here too.
``deep-pg`` and ``deep-pg-probe`` raise one of these exits, and a sweep job
(``deep_pg.sweep.jobs``) catches the same exception and puts its reason into the failed
``JobReturn`` and the index line, so nothing reads a job's output to find out why it failed.
"""

from __future__ import annotations

import sys
from typing import NoReturn

# The console command bad-input lines are prefixed with; each entry point sets its own.
_program = ["deep-pg"]


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


def set_program(name: str) -> None:
    """The command whose bad input is reported from here on (deep-pg, deep-pg-probe)."""
    _program[0] = name


def error_line(message: str, program: str | None = None) -> str:
    return f"{program or _program[0]}: error: {message}"


def report(message: str, program: str | None = None) -> None:
    """Print the bad-input line (callers that go on to clean up before exiting)."""
    print(error_line(message, program), file=sys.stderr, flush=True)


def fail(message: str, program: str | None = None) -> NoReturn:
    """Bad input: the one line on stderr, then exit code 2. ``program`` names a command other than
    the training and probe apps' (the analysis commands: deep-pg-report, deep-pg-export)."""
    report(message, program)
    raise BadInput(message)
