"""Read what we need from nginx's configuration: main-context directives, compiled defaults.

Built on the stock parser's tree (``{path: statements}``), so includes are resolved the
way the stock plugin resolves them; the compiled defaults come from ``nginx -V``.
"""
from __future__ import annotations

import fnmatch
import os.path
import re
from collections.abc import Mapping, Sequence
from typing import Any

Parsed = Mapping[str, Sequence[Any]]


def main_context(parsed: Parsed, main_conf: str, server_root: str) -> list[Sequence[Any]]:
    """nginx.conf's statements and those of the files it includes at top level, at any depth."""
    contexts: list[Sequence[Any]] = []
    pending, seen = [main_conf], {main_conf}
    while pending:
        statements = parsed.get(pending.pop(), ())
        contexts.append(statements)
        for statement in statements:
            if is_directive(statement, "include") and len(statement) > 1:
                pattern = os.path.join(server_root, unquote(statement[1]))
                for path in parsed:
                    if path not in seen and fnmatch.fnmatch(path, pattern):
                        seen.add(path)
                        pending.append(path)
    return contexts


def main_directives(parsed: Parsed, main_conf: str, server_root: str,
                    name: str) -> list[list[str]]:
    """The arguments of every main-context ``name`` directive, in order."""
    return [[unquote(arg) for arg in statement[1:]]
            for statements in main_context(parsed, main_conf, server_root)
            for statement in statements if is_directive(statement, name)]


def main_directive(parsed: Parsed, main_conf: str, server_root: str, name: str) -> list[str]:
    """The arguments of the first main-context ``name`` directive ([] when there is none)."""
    found = main_directives(parsed, main_conf, server_root, name)
    return found[0] if found else []


def compiled_option(banner: str, name: str) -> str | None:
    """A ``--name=value`` configure argument from ``nginx -V`` (e.g. ``pid-path``)."""
    found = re.search(rf"--{re.escape(name)}=(\S+)", banner)
    return found.group(1) if found else None


def runtime_path(value: str, banner: str) -> str:
    """A path as nginx resolves it: relative ones against the compiled ``--prefix``."""
    if os.path.isabs(value):
        return value
    return os.path.join(compiled_option(banner, "prefix") or "/usr/local/nginx", value)


def is_directive(statement: Any, name: str) -> bool:
    """Whether a parsed statement is the simple directive ``name`` (not a block)."""
    return isinstance(statement, list) and bool(statement) and statement[0] == name


def unquote(value: object) -> str:
    """A directive argument without the quotes the parser keeps."""
    return str(value).strip("'\"")
