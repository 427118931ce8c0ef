"""Build the environment of an nginx child process from Certbot's.

A pure function over a mapping: it never reads or changes ``os.environ`` and never
mutates its input, so every rule can be tested exhaustively with plain dicts. The only
outside fact it uses is where symlinks point, through an injectable ``resolve``.

What goes, and why: Certbot's snap exports variables meant for its *own* bundled
libraries (``OPENSSL_MODULES`` made a host nginx load OpenSSL's FIPS provider from
inside the snap in Certbot 3.2.0). Rather than chase the next such variable by name,
anything whose value points inside *any* snap is removed too.
"""
from __future__ import annotations

import os.path
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from certbot_cleanenv.policy import EnvPolicy

#: systemd's PATH for services (plus /sbin:/bin for unmerged /usr), used when PATH
#: would otherwise be missing or empty: Python would then search ``/bin:/usr/bin``
#: (no ``/usr/sbin``, where nginx lives) or the current directory.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Where snapd mounts snaps: ``/snap`` on Debian/Ubuntu, ``/var/lib/snapd/snap`` on
#: the Fedora/RHEL family. Compared by path component, never by substring.
SNAP_MOUNT_DIRS: tuple[tuple[str, ...], ...] = (("snap",), ("var", "lib", "snapd", "snap"))

_OPENSSL = "OpenSSL setting for the snap's bundled libraries"
_SYSTEMD = "describes Certbot's own systemd service, not nginx"

#: Removed by exact name (issue #2; certbot's snapcraft.yaml; nginx.c; systemd.exec(5):
#: what systemd sets to describe the service it runs, here Certbot's, never nginx).
DENY_EXACT: Mapping[str, str] = {
    "OPENSSL_MODULES": _OPENSSL,
    "OPENSSL_FORCE_FIPS_MODE": _OPENSSL,
    "OPENSSL_ENGINES": _OPENSSL,
    "CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "setting for Certbot's Python cryptography",
    "AUGEAS_LENS_LIB": "setting for the snap's bundled Augeas",
    "SNAP": "snap runtime variable",
    "NGINX": "nginx would adopt the listening sockets it names",
    "NGINX_BPF_MAPS": "nginx would adopt the QUIC BPF maps it names",
    "NOTIFY_SOCKET": _SYSTEMD,
    "INVOCATION_ID": _SYSTEMD,
    "JOURNAL_STREAM": _SYSTEMD,
    "FDSTORE": _SYSTEMD,
    "MEMORY_PRESSURE_WATCH": _SYSTEMD,
    "MEMORY_PRESSURE_WRITE": _SYSTEMD,
    "CREDENTIALS_DIRECTORY": _SYSTEMD,
    "TRIGGER_UNIT": _SYSTEMD,
    "TRIGGER_PATH": _SYSTEMD,
    "SYSTEMD_EXEC_PID": _SYSTEMD,
    "MAINPID": _SYSTEMD,
    "MANAGERPID": _SYSTEMD,
}

#: Removed by name prefix (snapd's snapenv.go incl. SNAP_SAVED_*; Certbot's own and hook
#: variables; interpreter settings; bash's exported functions).
DENY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("SNAP_", "snap runtime variable"),
    ("LISTEN_", _SYSTEMD),
    ("WATCHDOG_", _SYSTEMD),
    ("TRIGGER_TIMER_", _SYSTEMD),
    ("MONITOR_", _SYSTEMD),
    ("CERTBOT_", "Certbot's own or hook variable"),
    ("RENEWED_", "Certbot's hook variable"),
    ("PYTHON", "setting for Certbot's Python"),
    ("BASH_FUNC_", "exported shell function"),
)

#: Colon-separated path lists filtered entry by entry even when they hold relative
#: entries. Any other value made of two or more absolute paths joined by ':' is a list too.
KNOWN_PATH_LISTS = frozenset({
    "PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "LD_AUDIT", "GCONV_PATH", "MANPATH",
    "INFOPATH", "XDG_DATA_DIRS", "XDG_CONFIG_DIRS", "PKG_CONFIG_PATH", "PERL5LIB",
    "PERLLIB", "RUBYLIB", "NODE_PATH", "CLASSPATH", "SSL_CERT_DIR", "TERMINFO_DIRS",
})

#: The dynamic loader also splits LD_PRELOAD on white space (ld.so(8)).
_SEPARATORS: Mapping[str, str] = {"LD_PRELOAD": r"[:\s]+"}
#: Where a path may start inside any other value (``-Dx=/snap/...``, ``a,/snap/...``,
#: ``--conf="/snap/..."``).
_PIECES = re.compile(r"[:\s=,;\"']+")

#: sudo's env_check: locale values must not name files or hold format directives.
_LOCALE_NAMES = frozenset({"LANG", "LANGUAGE"})
_ZONEINFO = "/usr/share/zoneinfo/"
_PATH_MAX = 4096

Resolver = Callable[[str], str]


class Change(NamedTuple):
    """A variable removed or rewritten, and why. Holds the *name* only, never a value."""

    name: str
    reason: str


@dataclass(frozen=True)
class ChildEnv:
    """The computed child environment and an account of what changed.

    :ivar env: the environment to pass as ``env=``.
    :ivar changes: every variable removed or rewritten, with its reason.
    :ivar kept_in_snap: names the keep list saved although their value points into a snap.
    """

    env: dict[str, str] = field(repr=False)  # values can be secrets: never in a repr
    changes: tuple[Change, ...]
    kept_in_snap: tuple[str, ...] = ()

    @property
    def removed(self) -> tuple[str, ...]:
        """Names of variables the child does not get at all."""
        return tuple(c.name for c in self.changes if c.name not in self.env)

    def summary(self) -> str:
        """One line naming each change and its reason, safe to log."""
        if not self.changes:
            return "nothing removed"
        return "; ".join(f"{printable_name(c.name)} ({c.reason})" for c in self.changes)


def printable_name(name: str) -> str:
    """``name`` safe for any log handler: undecodable bytes (from os.environ) escaped."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def is_inside_snap(path: str, resolve: Resolver = os.path.realpath) -> bool:
    """Whether absolute ``path`` lies in a snap, as written or after symlinks.

    ``/snap/certbot/current/x`` and ``/var/lib/snapd/snap/core24/1/x`` are inside;
    ``/opt/snap/certbot/x`` is not, nor is the mount directory ``/snap`` itself.
    ``..`` is collapsed before comparing.
    """
    if not path.startswith("/"):
        return False
    return _under_mount_dir(path) or _under_mount_dir(resolve(path))


def _under_mount_dir(path: str) -> bool:
    parts = os.path.normpath("/" + path.lstrip("/")).split("/")[1:]
    return any(len(parts) > len(root) and tuple(parts[: len(root)]) == root
               for root in SNAP_MOUNT_DIRS)


def names_snap_path(value: str, resolve: Resolver = os.path.realpath) -> bool:
    """Whether any piece of ``value`` (split at ``: = , ;``, quotes and blanks) is in a snap."""
    return any(is_inside_snap(piece, resolve) for piece in _PIECES.split(value))


def _is_path_list(name: str, value: str) -> bool:
    if name in KNOWN_PATH_LISTS:
        return True
    entries = [e for e in value.split(":") if e]
    return len(entries) > 1 and all(e.startswith("/") for e in entries)


def filter_path_list(value: str, resolve: Resolver = os.path.realpath,
                     separator: str = ":") -> tuple[str, str]:
    """Drop snap, empty, relative and repeated entries; keep the rest in order.

    :returns: the filtered list joined by ':', and a reason ('' when nothing changed).
    """
    kept: list[str] = []
    seen: set[str] = set()
    counts = {"inside a snap": 0, "empty or relative": 0, "repeated": 0}
    for entry in re.split(separator, value.strip() if separator != ":" else value):
        if not entry.startswith("/"):
            counts["empty or relative"] += 1
        elif is_inside_snap(entry, resolve):
            counts["inside a snap"] += 1
        elif os.path.normpath(entry) in seen:  # /usr/bin, /usr/bin/ and /usr//bin
            counts["repeated"] += 1
        else:
            kept.append(entry)
            seen.add(os.path.normpath(entry))
    dropped = [f"{n} {what}" for what, n in counts.items() if n]
    reason = f"dropped entries: {', '.join(dropped)}" if dropped else ""
    return ":".join(kept), reason


def is_safe_locale_value(value: str) -> bool:
    """Sudo's env_check for LANG/LANGUAGE/LC_*: no '/' and no '%'."""
    return "/" not in value and "%" not in value


def is_safe_tz(value: str) -> bool:
    """Sudo's tz_is_safe: a zone name or a file under the zoneinfo tree, nothing else."""
    zone = value[1:] if value.startswith(":") else value
    if zone.startswith("/") and not zone.startswith(_ZONEINFO):
        return False
    if ".." in zone.split("/") or len(value) >= _PATH_MAX:
        return False
    return all(ch.isprintable() and not ch.isspace() for ch in value)


def _deny_reason(name: str, value: str, policy: EnvPolicy) -> str:
    """Why scrub removes ``name`` regardless of its value ('' if it does not)."""
    if policy.drops(name):
        return "listed in --cleanenv-nginx-drop-env"
    if name in DENY_EXACT:
        return DENY_EXACT[name]
    for prefix, reason in DENY_PREFIXES:
        if name.startswith(prefix):
            return reason
    if value.startswith("() {"):
        return "exported shell function"
    return ""


def _minimal_reason(name: str, value: str) -> str:
    """Why ``minimal`` removes ``name`` ('' if it keeps it)."""
    if name in _LOCALE_NAMES or name.startswith("LC_"):
        return "" if is_safe_locale_value(value) else "locale value holds '/' or '%'"
    if name == "TZ":
        return "" if is_safe_tz(value) else "TZ is not a zone name or a zoneinfo file"
    return "not on the minimal allow-list"


def build_child_env(parent: Mapping[str, str], policy: EnvPolicy,
                    resolve: Resolver = os.path.realpath) -> ChildEnv:
    """Compute the environment for an nginx child from ``parent`` under ``policy``.

    Merge order, after systemd and sshd: the inherited variables the mode lets through,
    then the keep list (verbatim; an absent name is ignored), and PATH is never left
    missing or empty. ``off`` returns an unchanged copy.
    """
    if policy.mode == "off":
        return ChildEnv(dict(parent), ())
    env: dict[str, str] = {}
    changes: list[Change] = []
    kept_in_snap: list[str] = []
    for name, value in parent.items():
        if name in policy.keep:
            env[name] = value
            if names_snap_path(value, resolve):
                kept_in_snap.append(name)
            continue
        reason = _deny_reason(name, value, policy)
        if not reason and policy.mode == "minimal" and name != "PATH":
            reason = _minimal_reason(name, value)
        if not reason and _is_path_list(name, value):
            value, reason = filter_path_list(value, resolve, _SEPARATORS.get(name, ":"))
            if value:
                env[name] = value
                if reason:
                    changes.append(Change(name, reason))
                continue
            reason = f"path list left empty ({reason})"
        if not reason and names_snap_path(value, resolve):
            reason = "value points inside a snap"
        if reason:
            changes.append(Change(name, reason))
        else:
            env[name] = value
    if not env.get("PATH"):  # absent, dropped, or kept verbatim while empty
        env["PATH"] = SYSTEM_PATH
        earlier = [c.reason for c in changes if c.name == "PATH"]
        changes = [c for c in changes if c.name != "PATH"]
        changes.append(Change("PATH", ", then ".join(  # reasons never hold "; "
            [*earlier, f"{'missing or empty' if not earlier else 'none left'}: "
                       f"set to {SYSTEM_PATH}"])))
    return ChildEnv(env, tuple(changes), tuple(kept_in_snap))
