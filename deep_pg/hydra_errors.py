"""Hydra's own errors as bad input: one line naming the key or group, the bad value and what is
allowed, exit code 2, as for every other bad input (``deep_pg.exits``).

Hydra reports an override it cannot compose (an unknown key, a wrong type, a group option that
does not exist, a syntax error) in 6-16 lines and exits 1, the crash code. ``run_app`` asks
Hydra to raise instead (``HYDRA_FULL_ERROR``, Hydra's own switch), turns those errors into the
one line and lets everything else through. A multirun stopped for bad input leaves no sweep
directory that holds only Hydra's multirun.yaml. A user who sets ``HYDRA_FULL_ERROR=1`` gets
Hydra's full text unchanged. An exception raised inside the app's task (a crash of the run
itself) is never translated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    OmegaConfBaseException,
    ValidationError,
)

from deep_pg.config import UnknownKey
from deep_pg.exits import BadInput, fail
from deep_pg.suggest import did_you_mean
from deep_pg.sweep.preflight import remove_unused_sweep_dir

FULL_ERROR = "HYDRA_FULL_ERROR"
# What a value of each type looks like, for OmegaConf's "could not be converted to <type>".
TYPE_WORDS = {
    "Integer": "an integer",
    "Float": "a number",
    "Boolean": "true or false",
    "String": "a string",
}
# Keys of a config node that are Hydra's machinery, not settings a user gives.
HIDDEN_KEYS = ("hydra", "_target_")


def run_app(hydra_main: Callable[[], Any], task: Callable[..., Any]) -> Any:
    """Call ``hydra_main`` (a ``@hydra.main`` function whose task is ``task``); Hydra's errors
    composing or launching it become one bad-input line and exit code 2."""
    if os.environ.get(FULL_ERROR):
        return hydra_main()  # the user asked for Hydra's full text
    os.environ[FULL_ERROR] = "1"
    try:
        return hydra_main()
    except BadInput:
        remove_unused_sweep_dir()
        raise
    except Exception as err:
        message = None if raised_in(err, task) else one_line(err)
        if message is None:
            raise
        remove_unused_sweep_dir()
        fail(message)
    finally:
        os.environ.pop(FULL_ERROR, None)


def raised_in(err: BaseException, function: Callable[..., Any]) -> bool:
    """Whether ``err`` came out of ``function`` (its frame is in the traceback)."""
    code = getattr(function, "__code__", None)
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return True
        tb = tb.tb_next
    return False


def one_line(err: BaseException) -> str | None:
    """The bad-input line for an error of Hydra or OmegaConf; None for any other error."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, option = err.missing_cfg_file.rpartition("/")
        if group:
            return (
                f"invalid value for '{group}': '{option}' (allowed: "
                f"{' | '.join(err.options)}{did_you_mean(option, err.options)})"
            )
    if isinstance(err, OverrideParseException):
        return (
            f"cannot parse the override '{err.override}': {first_line(err)} (allowed: "
            "Hydra's override grammar, https://hydra.cc/docs/advanced/override_grammar/basic)"
        )
    cause = omegaconf_cause(err)
    if cause is not None and cause.full_key:
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
            return str(UnknownKey(cause.full_key, None, known_keys(cause.parent_node)))
        if isinstance(cause, ValidationError):
            return invalid_value(cause)
    if isinstance(err, OmegaConfBaseException):
        return first_line(err)  # its other lines are OmegaConf's full_key/object_type details
    if isinstance(err, HydraException):
        own = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        return "; ".join([own or type(err).__name__, *([first_line(cause)] if cause else [])])
    return None


def invalid_value(cause: ValidationError) -> str:
    text = str(cause.msg or cause).splitlines()[0]
    choices = re.search(r"expected one of \[(.*)\]", text)
    converted = re.search(r"could not be converted to (\w+)", text)
    if choices:
        options = [o.strip() for o in choices.group(1).split(",")]
        allowed = " | ".join(options) + did_you_mean(str(cause.value), options)
    elif converted:
        allowed = TYPE_WORDS.get(converted.group(1), converted.group(1))
    elif "is not a ListConfig" in text:
        allowed = "a list, e.g. [64,64]"
    elif "is not Optional" in text:
        allowed = "a value, not null"
    else:
        allowed = text
    value = "null" if cause.value is None else repr(cause.value)
    return f"invalid value for '{cause.full_key}': {value} (allowed: {allowed})"


def omegaconf_cause(err: BaseException) -> OmegaConfBaseException | None:
    """The OmegaConf error behind ``err`` (itself, or its first OmegaConf cause)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OmegaConfBaseException):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def known_keys(node: Any) -> list[str]:
    if not isinstance(node, DictConfig):
        return []
    return [str(k) for k in node if k not in HIDDEN_KEYS]


def first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
