"""How to start nginx when a reload finds it not running: the start policy, in pure pieces.

The stock plugin then runs ``nginx -c conf`` itself. That master is unknown to the
service manager: the next ``systemctl start nginx`` fails on "Address already in use",
and under SELinux the stray master runs unconfined. On a systemd host we therefore ask
systemd to start the unit, so the daemon gets its unit's environment and security
context; elsewhere (or when asked) we start nginx directly, in the scrubbed environment.

Everything here is pure (strings and parsed trees in, decisions out); the configurator
runs the commands through the runner.
"""
from __future__ import annotations

import os.path
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from certbot_cleanenv import nginx_conf
from certbot_cleanenv.policy import OptionValueError

StartMode = Literal["auto", "systemd", "direct", "never"]
START_MODES: tuple[StartMode, ...] = ("auto", "systemd", "direct", "never")
StartPath = Literal["systemd", "direct", "never"]

DEFAULT_UNIT = "nginx.service"

#: sd_booted(3): systemd runs the host exactly when this directory exists.
SYSTEMD_RUNTIME_DIR = "/run/systemd/system"

# systemd.unit(5) unit names: ASCII letters, digits, ":-_.\\@"; never an option.
_UNIT = re.compile(r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,255}\Z")


def parse_start_mode(value: object) -> StartMode:
    """Parse ``--cleanenv-nginx-start``."""
    for mode in START_MODES:
        if value == mode:
            return mode
    raise OptionValueError(
        f"unknown start mode {value!r} (choose from {', '.join(START_MODES)})")


def parse_unit(value: object) -> str:
    """Parse ``--cleanenv-nginx-unit``: a systemd unit name (``nginx`` means ``nginx.service``)."""
    if not isinstance(value, str) or not _UNIT.match(value):
        raise OptionValueError(
            f"invalid systemd unit name {value!r} for --cleanenv-nginx-unit: use letters, "
            "digits and ':-_.\\@', not starting with '-'")
    return value if "." in value else f"{value}.service"


def choose_start(mode: StartMode, *, systemd_booted: bool, unit_loaded: bool) -> StartPath:
    """Which way to start nginx: ``auto`` prefers systemd when it runs the host and has the unit."""
    if mode == "auto":
        return "systemd" if systemd_booted and unit_loaded else "direct"
    return mode


def systemd_booted(runtime_dir: str = SYSTEMD_RUNTIME_DIR) -> bool:
    """Whether systemd runs this host (the test sd_booted(3) makes)."""
    return os.path.isdir(runtime_dir)


def unit_is_loaded(show_output: str) -> bool:
    """Read ``systemctl show --property=LoadState --value UNIT``: ``loaded`` means it exists."""
    return show_output.strip() == "loaded"


def sets_daemon_off(parsed: Mapping[str, Sequence[Any]], main_conf: str,
                    server_root: str) -> bool:
    """Whether the main context says ``daemon off;`` (in nginx.conf or a file it includes there).

    Started directly, such an nginx stays in the foreground: Certbot would wait on it
    until the timeout. ``parsed`` is the stock parser's ``{path: statements}``.
    """
    daemon = nginx_conf.main_directive(parsed, main_conf, server_root, "daemon")
    return bool(daemon) and daemon[0].lower() == "off"
