"""Reading settings from the environment: the error and the number readers every settings
object uses (the style engine's, the job system's and the bot's), so each says the same thing
about a bad value. The standard library only."""

from __future__ import annotations

from collections.abc import Mapping


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def read_number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    """``env[name]`` as a number of at least ``minimum``; unset or blank gives ``default``."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def read_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """``env[name]`` as a whole number of at least ``minimum``; unset or blank gives ``default``."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
    return value
