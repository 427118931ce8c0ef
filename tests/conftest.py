"""Shared fixtures: real nginx sites, one Pebble per session, Certbot, configurators.

Real-part fixtures skip with a reason on a developer machine that lacks nginx or
Pebble, and *fail* under CI (``CI=true``), where nothing may be skipped.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from certbot import configuration
from certbot._internal import cli
from certbot._internal.plugins import disco

from certbot_cleanenv import configurator
from certbot_cleanenv.configurator import CleanEnvConfigurator
from tests.fixtures import faults, net, pki, venvs
from tests.fixtures.acme import Pebble
from tests.fixtures.certbot import Certbot
from tests.fixtures.nginx import NginxSite, nginx_binary
from tests.fixtures.snap import EmulatedSnap, SnapUnavailableError

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """Skip locally with ``reason``; fail in CI, which must run every real-part test."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must not skip real-part tests)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_process_warnings() -> None:
    """Each test is a new Certbot process as far as our once-per-process warnings go."""
    configurator._WARNED_RENEWAL_FILES.clear()
    configurator._WARNED_MIXED_PLUGINS.clear()


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    """The real nginx binary."""
    binary = nginx_binary()
    if binary is None:
        missing("nginx is not installed (apt-get install nginx)")
    return binary


@pytest.fixture
def site_factory(tmp_path: Path, nginx_bin: str) -> Iterator[Callable[..., NginxSite]]:
    """Make nginx sites in tmp dirs; every started master is stopped afterwards."""
    sites: list[NginxSite] = []

    def make(name: str = "site", **kwargs: object) -> NginxSite:
        site = NginxSite(tmp_path / name, **kwargs)  # type: ignore[arg-type]
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.stop()


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """One Pebble (with its DNS) for the session, validating http-01 on a free port."""
    for program in ("pebble", "pebble-challtestsrv"):
        if shutil.which(program) is None:
            missing(f"{program} is not installed (apt-get install pebble)")
    server = Pebble(tmp_path_factory.mktemp("pebble"), http_port=net.free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def certbot(tmp_path: Path, pebble: Pebble) -> Certbot:
    """The real certbot of this venv, with private state, pointed at Pebble."""
    executable = Path(sys.executable).with_name("certbot")
    if not executable.exists():
        missing(f"certbot is not installed next to {sys.executable}")
    return Certbot(tmp_path / "certbot", pebble, executable)


@pytest.fixture
def parse_config(tmp_path: Path) -> Callable[..., configuration.NamespaceConfig]:
    """Parse a real Certbot command line (all plugins' options) into a NamespaceConfig.

    Going through Certbot's own parser means an option we forgot to declare fails
    loudly, where a hand-built mock config would read as a MagicMock.
    """
    def parse(*args: str) -> configuration.NamespaceConfig:
        state = tmp_path / "certbot-state"
        for sub in ("config", "work", "logs"):  # as certbot's main() makes them
            (state / sub).mkdir(parents=True, exist_ok=True)
        if hasattr(cli, "set_by_cli"):  # Certbot < 2.3 caches what the last parse set
            cli.set_by_cli.detector = None
        parsed = cli.prepare_and_parse_args(disco.PluginsRegistry.find_all(), [
            "--config-dir", str(state / "config"), "--work-dir", str(state / "work"),
            "--logs-dir", str(state / "logs"), *args])
        if isinstance(parsed, configuration.NamespaceConfig):
            return parsed
        return configuration.NamespaceConfig(parsed)  # Certbot < 2.3 returns the Namespace
    return parse


@pytest.fixture
def make_configurator(parse_config: Callable[..., configuration.NamespaceConfig],
                      ) -> Callable[..., CleanEnvConfigurator]:
    """A CleanEnvConfigurator for a real command line, not yet prepared."""
    def make(*args: str) -> CleanEnvConfigurator:
        return CleanEnvConfigurator(parse_config(*args), "cleanenv-nginx")
    return make


@pytest.fixture(scope="session")
def emulated_snap(tmp_path_factory: pytest.TempPathFactory, nginx_bin: str,
                  ) -> Iterator[EmulatedSnap]:
    """One private mount namespace with /snap, a fake snapd and the host OpenSSL config."""
    if os.geteuid() != 0:
        missing("the emulated snap needs root (it mounts in a private namespace)")
    work = tmp_path_factory.mktemp("snap")
    cnf = work / "host-openssl.cnf"
    cnf.write_text(pki.HOST_OPENSSL_CNF)
    snap = EmulatedSnap(work, host_openssl_cnf=cnf)
    try:
        snap.start()
    except SnapUnavailableError as error:
        missing(str(error))
    yield snap
    snap.stop()


@pytest.fixture(scope="session")
def certbot_320() -> Path:
    """Certbot 3.2.0 (the incident's release), in a cached venv without our package."""
    return venvs.certbot_venv("3.2.0") / "bin" / "certbot"


@pytest.fixture(scope="session")
def built_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our package as the plugin snap ships it (snap/build.py), built once per session."""
    return venvs.build_plugin(tmp_path_factory.mktemp("plugin-build") / "site-packages")


@pytest.fixture
def plugin_snap(emulated_snap: EmulatedSnap, built_plugin: Path) -> Iterator[EmulatedSnap]:
    """The emulated snap with our plugin snap installed but not connected; reset after."""
    emulated_snap.set_connections([])
    emulated_snap.install_plugin(built_plugin)
    emulated_snap.set_connections([])
    yield emulated_snap
    emulated_snap.set_connections([])


@pytest.fixture
def snap_certbot(tmp_path: Path, certbot: Certbot, emulated_snap: EmulatedSnap) -> Certbot:
    """This venv's Certbot, run inside the emulated snap."""
    return Certbot(tmp_path / "snap-certbot", certbot.pebble, certbot.executable,
                   wrap=emulated_snap.command)


def pytest_configure(config: pytest.Config) -> None:
    """Treat SIGTERM (CI's or timeout's) like Ctrl-C, so fixtures stop nginx and Pebble."""
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault-injection table (tests/test_faults.py) when those tests ran."""
    if faults.TABLE:
        terminalreporter.section("fault injection")
        for line in faults.format_table(faults.TABLE):
            terminalreporter.write_line(line)
