"""The environment policy the user chose, and the parsing of its options.

The parse functions double as argparse ``type=`` callables, so they also run when
``certbot renew`` restores the options from a renewal configuration file: there
configobj hands a comma-separated value over as a *list*, so list options accept a
string or a list. Errors subclass both :class:`argparse.ArgumentTypeError` (argparse
prints the message as is) and :class:`ValueError` (Certbot's renewal skips the
lineage with the message instead of crashing).
"""
from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["scrub", "minimal", "off"]
MODES: tuple[Mode, ...] = ("scrub", "minimal", "off")

DEFAULT_TIMEOUT = 60.0
#: More than a margin: an hour per reload is a mistake (and past time.sleep's range, a crash).
MAX_SLEEP_SECONDS = 3600

# POSIX portable names, as systemd's env_name_is_valid() and sudo's env_check accept.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class OptionValueError(argparse.ArgumentTypeError, ValueError):
    """A bad value for one of our options.

    On the command line it is a usage error; in a renewal configuration Certbot skips
    the lineage and prints this message.
    """


@dataclass(frozen=True)
class EnvPolicy:
    """How to build an nginx child's environment from Certbot's.

    :ivar mode: ``scrub`` (copy, then remove), ``minimal`` (allow-list) or ``off``.
    :ivar keep: names never removed, overriding every rule.
    :ivar drop: names always removed; an entry ending in ``*`` is a prefix.
    """

    mode: Mode = "scrub"
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    def drops(self, name: str) -> bool:
        """Whether ``name`` matches an entry of the drop list."""
        return any(
            name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern
            for pattern in self.drop
        )


def parse_mode(value: str) -> Mode:
    """Parse ``--cleanenv-nginx-env-policy``."""
    if value not in MODES:
        raise OptionValueError(
            f"unknown environment policy {value!r} (choose from {', '.join(MODES)})")
    return value


def _split_names(value: object, option: str) -> list[str]:
    if isinstance(value, str):
        items = value.split(",")
        if items[-1].strip() == "" and len(items) > 1:
            items.pop()  # "A," is how configobj writes a one-item list: users copy it
        if any(not item.strip() for item in items):
            raise OptionValueError(
                f"empty variable name in {option} {value!r}: give NAME[,NAME...]")
    elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:  # e.g. None from a renewal file: Certbot eval()s None/True/False
        raise OptionValueError(f"invalid value {value!r} for {option}: give NAME[,NAME...]")
    return [item.strip() for item in items if item.strip()]


def _parse_names(value: str | list[str] | tuple[str, ...], *, allow_prefix: bool,
                 option: str) -> tuple[str, ...]:
    names: list[str] = []
    for name in _split_names(value, option):
        bare = name[:-1] if allow_prefix and name.endswith("*") else name
        if not _NAME.match(bare):
            hint = " (or a prefix ending in '*')" if allow_prefix else ""
            raise OptionValueError(
                f"invalid variable name {name!r} in {option}: use letters, digits and "
                f"'_', not starting with a digit{hint}")
        if name not in names:
            names.append(name)
    return tuple(names)


def parse_keep_env(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``--cleanenv-nginx-keep-env NAME[,NAME...]`` (a string, or a list from configobj)."""
    return _parse_names(value, allow_prefix=False, option="--cleanenv-nginx-keep-env")


def parse_drop_env(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``--cleanenv-nginx-drop-env NAME[,PREFIX*...]`` (a string, or a configobj list)."""
    return _parse_names(value, allow_prefix=True, option="--cleanenv-nginx-drop-env")


def parse_path(value: object, option: str) -> str:
    """Parse a path or program name (``--cleanenv-nginx-ctl``, ``--cleanenv-nginx-server-root``).

    Certbot eval()s ``None``/``True`` in a renewal file instead of keeping the text; an
    empty value would name the current directory. Both are refused with the option's name.
    """
    if not isinstance(value, str) or not value.strip():
        raise OptionValueError(f"invalid value {value!r} for {option}: give a path")
    return value


def parse_timeout(value: str | float) -> float:
    """Parse ``--cleanenv-nginx-timeout``: a finite number of seconds above zero.

    ``True``/``False``/``None``, which Certbot eval()s from a renewal file instead of
    calling this, are refused rather than read as 1 s, 0 s or "no limit".
    """
    problem = OptionValueError(f"invalid timeout {value!r}: give a number of seconds above zero")
    if isinstance(value, bool) or value is None:
        raise problem
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise problem from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise problem
    return seconds


def parse_sleep_seconds(value: str | float) -> float:
    """Parse ``--cleanenv-nginx-sleep-seconds``: whole seconds on the command line, 0 to 3600.

    A string is read as the stock option reads it (``type=int``), so renewal files read
    and write the same values for both plugins; a number set in code is taken as it is,
    as the stock plugin takes it. A negative one, which the stock option accepts and
    which crashes ``time.sleep`` in the middle of a challenge, is refused, and so is
    one past an hour (past ``time.sleep``'s range it crashes too).
    """
    problem = OptionValueError(f"invalid sleep-seconds {value!r}: give a whole number of "
                               f"seconds from 0 to {MAX_SLEEP_SECONDS}")
    if isinstance(value, bool):
        raise problem
    if isinstance(value, str):
        try:
            seconds: float = int(value)
        except ValueError:
            raise problem from None
    elif isinstance(value, (int, float)):
        seconds = value
    else:
        raise problem
    if not 0 <= seconds <= MAX_SLEEP_SECONDS:  # also refuses nan
        raise problem
    return seconds


def policy_from_config(conf: Callable[[str], Any]) -> EnvPolicy:
    """Build the policy from a plugin's ``conf()``: the one place that reads our env options.

    Values are parsed again, so a value that bypassed argparse (set in code, or restored
    from an old renewal file) fails here with the same message instead of later.
    """
    return EnvPolicy(
        mode=parse_mode(conf("env-policy")),
        keep=parse_keep_env(conf("keep-env")),
        drop=parse_drop_env(conf("drop-env")),
    )
