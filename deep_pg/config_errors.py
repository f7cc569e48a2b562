"""The error a configuration value outside what deep_pg accepts raises: one line naming the key,
the value and what is allowed. Below ``deep_pg.config`` so that every check of a config node,
wherever it lives (``deep_pg.probe_settings`` for the probe node), raises the same error."""

from __future__ import annotations

from typing import Any

from deep_pg.suggest import did_you_mean


class ConfigError(ValueError):
    """A configuration value is outside what deep_pg accepts."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"invalid value for '{key}': {value!r} (allowed: {allowed})")


class UnknownKey(ConfigError):
    """A key no schema defines: a typo, or ``+key=value`` past the schema."""

    def __init__(self, key: str, value: Any, known: list[str]):
        parent, _, name = key.rpartition(".")
        where = f"keys of '{parent}'" if parent else "top-level keys"
        allowed = f"{where}: {', '.join(known)}{did_you_mean(name, known, parent and parent + '.')}"
        self.key, self.value, self.allowed = key, value, allowed
        ValueError.__init__(self, f"unknown key '{key}' (allowed: {allowed})")
