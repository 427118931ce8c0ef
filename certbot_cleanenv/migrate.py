"""``certbot-cleanenv migrate``: switch renewal configurations to cleanenv-nginx, or back.

Edits are line-level text substitutions inside ``[renewalparams]`` (``authenticator``,
``installer`` and the stock plugin's ``nginx_*`` keys), so comments, order and
formatting survive, and ``--revert`` gives back the original bytes. The result is
parsed again with configobj (as Certbot will) before it is written, atomically, with
the original mode and owner; a backup of the old file stays beside it.
"""
from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import configobj

STOCK, OURS = "nginx", "cleanenv-nginx"
STOCK_PREFIX, OUR_PREFIX = "nginx_", "cleanenv_nginx_"
#: The stock plugin's options, which both plugins have; ours alone (env_policy, timeout, ...)
#: stay ``cleanenv_nginx_*`` on --revert: the stock plugin has no such option, and Certbot
#: would store them back as strings it cannot read.
STOCK_OPTIONS = frozenset({"server_root", "ctl", "sleep_seconds"})
BACKUP_SUFFIX = ".pre-cleanenv"  # not ".conf": Certbot never reads it as a lineage

_SECTION = re.compile(r"^\s*\[+\s*([^\]]*?)\s*\]+\s*(#.*)?$")
_PLUGIN = re.compile(r"^(\s*(?:authenticator|installer)\s*=\s*)(['\"]?)([\w-]+)\2(\s*(?:#.*)?)$")
_KEY = re.compile(r"^(\s*)([A-Za-z_][\w-]*)(\s*=.*)$")


@dataclass(frozen=True)
class Result:
    """What happened to one renewal file."""

    path: Path
    action: str  # "migrated", "reverted", "would change", "unchanged", "skipped"
    reason: str = ""
    diff: str = ""


def plan(text: str, revert: bool = False) -> tuple[str, str]:
    """The new text for one renewal file, or a reason not to change it.

    :returns: (new text, '') or ('', reason to skip); the same text back means done.
    """
    source, target = (OURS, STOCK) if revert else (STOCK, OURS)
    old_prefix, new_prefix = (OUR_PREFIX, STOCK_PREFIX) if revert else (STOCK_PREFIX, OUR_PREFIX)

    def renamed_key(key: str) -> str | None:
        """The key's new name, or None when it stays as it is."""
        if not key.startswith(old_prefix):
            return None
        option = key[len(old_prefix):]
        return new_prefix + option if not revert or option in STOCK_OPTIONS else None

    try:
        params = configobj.ConfigObj(text.splitlines(), interpolation=False)["renewalparams"]
    except (configobj.ConfigObjError, KeyError) as error:
        return "", f"does not parse as a renewal configuration ({type(error).__name__})"
    plugins = {key: params.get(key) for key in ("authenticator", "installer")}
    if plugins["authenticator"] == target and plugins["installer"] in (target, None):
        return text, ""
    if plugins["authenticator"] != source or plugins["installer"] not in (source, None):
        return "", ("uses other plugins (" + ", ".join(f"{k} = {v}" for k, v in plugins.items())
                    + "): switch it with certbot reconfigure")
    clashes = [key for key in params if key.startswith(new_prefix)
               and (revert or key[len(new_prefix):] in STOCK_OPTIONS)]
    if clashes:
        return "", (f"already has {', '.join(clashes)} next to {source}: fix it by hand")
    lines, section = [], ""
    for line in text.splitlines(keepends=True):
        body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        header = _SECTION.match(body)
        if header:
            section = header.group(1)
        elif section == "renewalparams":
            plugin, key = _PLUGIN.match(body), _KEY.match(body)
            if plugin and plugin.group(3) == source:
                lead, quote, _, tail = plugin.groups()
                body = f"{lead}{quote}{target}{quote}{tail}"
            elif key and renamed_key(key.group(2)):
                body = f"{key.group(1)}{renamed_key(key.group(2))}{key.group(3)}"
        lines.append(body + end)
    new = "".join(lines)
    check = configobj.ConfigObj(new.splitlines(), interpolation=False)["renewalparams"]
    renamed = {renamed_key(k) or k: v for k, v in params.items() if k not in plugins}
    if check.get("authenticator") != target or \
            {k: v for k, v in check.items() if k not in plugins} != renamed:
        return "", "could not be rewritten safely (unusual formatting): use certbot reconfigure"
    return new, ""


def write_atomically(path: Path, text: str, like: Path | None = None) -> None:
    """Replace ``path`` with ``text``: readers see the old file or the new one, never half.

    Keeps the mode and owner of ``path`` (or of ``like``, for a new file); the temporary
    file is removed on any failure.
    """
    stat = (like or path).stat()
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), stat.st_mode & 0o7777)
            if (stat.st_uid, stat.st_gid) != (os.getuid(), os.getgid()):
                os.fchown(handle.fileno(), stat.st_uid, stat.st_gid)
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def migrate_file(path: Path, *, revert: bool = False, dry_run: bool = False) -> Result:
    """Switch one renewal file (or say why not).

    A symlink is followed: the file it names is changed (and backed up beside it), so
    the link stays a link.
    """
    real = path.resolve()
    try:
        text = real.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return Result(path, "skipped", f"unreadable ({error.__class__.__name__}: "
                                       f"{getattr(error, 'strerror', None) or error})")
    new, reason = plan(text, revert)
    if reason:
        return Result(path, "skipped", reason)
    if new == text:
        return Result(path, "unchanged", f"already uses {STOCK if revert else OURS}")
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True),
                                        new.splitlines(keepends=True), str(path), str(path)))
    if dry_run:
        return Result(path, "would change", diff=diff)
    try:
        write_atomically(real.with_name(real.name + BACKUP_SUFFIX), text, like=real)
        write_atomically(real, new)
    except OSError as error:  # e.g. a read-only directory: this file only, the rest go on
        return Result(path, "skipped", f"could not write ({error.strerror or error}) in "
                                       f"{real.parent}: left as it was")
    return Result(path, "reverted" if revert else "migrated", diff=diff)
