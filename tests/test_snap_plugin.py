"""The plugin snap: its metadata, its build step, its hook, and Certbot's snap loading it.

Building a real snap needs snapcraft, which CI does not run. What the snap would ship is
laid out by the same step snapcraft runs (``snap/build.py``) into the emulated snap's
``/snap/certbot-cleanenv/current/lib/python3.12/site-packages``, and the fake snapd
reports the content connection, so Certbot's own discovery code is what loads it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.fixtures.certbot import Certbot
from tests.fixtures.net import served_certificate
from tests.fixtures.nginx import NginxSite
from tests.fixtures.snap import Connection, EmulatedSnap
from tests.fixtures.venvs import certbot_venv

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "snap" / "build.py"
HOOK = REPO / "snap" / "hooks" / "post-refresh"
SNAPCRAFT = REPO / "snap" / "snapcraft.yaml"
MakeSite = Callable[..., NginxSite]


def build(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BUILD), *args, str(target)], capture_output=True,
                          text=True, check=False, timeout=300)


# --- the snap's metadata --------------------------------------------------------------

def test_snapcraft_yaml_matches_what_certbots_snap_expects(tmp_path: Path) -> None:
    import certbot
    from certbot._internal import snap_config

    meta = yaml.safe_load(SNAPCRAFT.read_text())
    assert (meta["name"], meta["base"], meta["confinement"]) == \
        ("certbot-cleanenv", "core24", "strict")
    slot = meta["slots"]["certbot"]
    assert (slot["interface"], slot["content"]) == ("content", "certbot-1")
    assert slot["read"] == ["$SNAP/lib/python3.12/site-packages"]
    snap_python = getattr(snap_config, "CURRENT_PYTHON_VERSION_STRING", None)
    if snap_python is not None:
        assert snap_python in slot["read"][0]
    else:  # a Certbot from before core24 snaps (python3.8): our post-refresh hook refuses it
        assert run_hook(tmp_path, certbot.__version__).returncode != 0
    plug = meta["plugs"]["certbot-metadata"]
    assert (plug["interface"], plug["content"], plug["target"]) == \
        ("content", "metadata-1", "$SNAP/certbot-shared")
    build_step = meta["parts"]["certbot-cleanenv"]["override-build"]
    assert 'snap/build.py "$CRAFT_PART_INSTALL/lib/python3.12/site-packages"' in build_step


# --- the build step -------------------------------------------------------------------

def test_build_holds_our_package_and_dist_info_only(built_plugin: Path) -> None:
    built = built_plugin
    names = sorted(p.name for p in built.iterdir())
    assert names[0] == "certbot_cleanenv"
    assert len(names) == 2
    assert names[1].startswith("certbot_cleanenv-")
    assert names[1].endswith(".dist-info")
    assert build(built, "--check").returncode == 0


def _copy(built_plugin: Path, tmp_path: Path) -> Path:
    target = tmp_path / "site-packages"
    shutil.copytree(built_plugin, target)
    return target


def test_build_check_refuses_certbot_nginx_dist_info(built_plugin: Path, tmp_path: Path) -> None:
    import certbot_nginx

    target = _copy(built_plugin, tmp_path)
    stock = next(Path(certbot_nginx.__file__).parents[1].glob("certbot_nginx-*.dist-info"))
    shutil.copytree(stock, target / stock.name)
    result = build(target, "--check")
    assert result.returncode == 1
    assert f"{stock.name}: another distribution" in result.stderr
    assert "declares Certbot plugin 'nginx'" in result.stderr


def test_build_check_refuses_our_package_declaring_a_certbot_name(built_plugin: Path,
                                                                  tmp_path: Path) -> None:
    target = _copy(built_plugin, tmp_path)
    entry_points = next(target.glob("*.dist-info")) / "entry_points.txt"
    entry_points.write_text(entry_points.read_text().replace(
        "[certbot.plugins]\n", "[certbot.plugins]\nnginx = x:y\n"))
    result = build(target, "--check")
    assert result.returncode == 1
    assert "'nginx'" in result.stderr


def test_build_check_refuses_strays_and_missing_package(built_plugin: Path, tmp_path: Path) -> None:
    target = _copy(built_plugin, tmp_path)
    (target / "acme").mkdir()
    assert "acme: not part of certbot_cleanenv" in build(target, "--check").stderr
    shutil.rmtree(target / "certbot_cleanenv")
    assert "must hold exactly one" in build(target, "--check").stderr


# --- the post-refresh hook ------------------------------------------------------------

def run_hook(tmp_path: Path, version: str | None) -> subprocess.CompletedProcess[str]:
    """Run post-refresh as snapd would, with Certbot's slot holding ``version`` (or nothing)."""
    shared = tmp_path / "snap" / "certbot-shared"
    shared.mkdir(parents=True)
    if version is not None:
        (shared / "certbot-version.txt").write_text(version)
    (tmp_path / "data").mkdir()
    return subprocess.run([str(HOOK)], env={"SNAP": str(tmp_path / "snap"),
                                            "SNAP_DATA": str(tmp_path / "data"),
                                            "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("version", "refuses"), [
    ("5.8.0", False), ("3.0.0", False), ("10.0.0", False), ("3.2.0\n", False),
    ("2.11.0", True), ("1.32.2", True),
])
def test_post_refresh_hook(tmp_path: Path, version: str, refuses: bool) -> None:
    result = run_hook(tmp_path, version)
    assert (result.returncode != 0) is refuses
    if refuses:
        assert "needs Certbot 3.0.0 or newer" in result.stderr
        assert "snap refresh certbot" in result.stderr


@pytest.mark.parametrize("content", [None, "garbage"])
def test_post_refresh_hook_without_a_readable_version(tmp_path: Path,
                                                      content: str | None) -> None:
    result = run_hook(tmp_path, content)
    assert result.returncode == 0
    assert "not checking" in (tmp_path / "data" / "debuglog").read_text()


# --- Certbot's snap loading the plugin ------------------------------------------------

@pytest.fixture(scope="session")
def bare_certbot() -> Path:
    """Certbot 5.8.0 *without* our package: it can only find us through the plugin snap."""
    return certbot_venv("5.8.0") / "bin" / "certbot"


@pytest.fixture
def snapped(tmp_path: Path, certbot: Certbot, bare_certbot: Path,
            plugin_snap: EmulatedSnap) -> Certbot:
    return Certbot(tmp_path / "snapped", certbot.pebble, bare_certbot, wrap=plugin_snap.command)


def bare_site_packages() -> Path:
    return next((certbot_venv("5.8.0") / "lib").glob("python3*/site-packages"))


@pytest.mark.e2e
def test_connected_plugin_snap_issues_and_renews(snapped: Certbot, plugin_snap: EmulatedSnap,
                                                 site_factory: MakeSite) -> None:
    plugin_snap.set_connections([Connection("certbot-cleanenv")])
    env = plugin_snap.snap_env()
    assert not list(bare_site_packages().glob("certbot_cleanenv*")), "must come from the snap"
    listed = snapped.run("plugins", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("* cleanenv-nginx\n") == 1
    assert listed.stdout.count("* nginx\n") == 1
    site = site_factory(http_port=snapped.pebble.http_port)
    plugin_snap.start_nginx(site)
    issued = snapped.issue(site, env, "cleanenv-nginx", "--cleanenv-nginx-sleep-seconds", "1")
    assert issued.returncode == 0, issued.stderr
    first = served_certificate(site.https_port, site.domain).serial_number
    renewed = snapped.renew(env)
    assert renewed.returncode == 0, renewed.stderr
    assert served_certificate(site.https_port, site.domain).serial_number != first


@pytest.mark.e2e
def test_without_connection_certbot_says_not_installed(
        snapped: Certbot, plugin_snap: EmulatedSnap, site_factory: MakeSite) -> None:
    plugin_snap.set_connections([])
    site = site_factory(http_port=snapped.pebble.http_port)
    result = snapped.run("run", "-a", "cleanenv-nginx", "-i", "cleanenv-nginx", "--agree-tos",
                         "-m", "admin@example.org", "--no-verify-ssl", "--server",
                         snapped.pebble.directory_url, "-d", site.domain,
                         env=plugin_snap.snap_env())
    assert result.returncode != 0
    assert "The requested cleanenv-nginx plugin does not appear to be installed" in \
        result.stdout + result.stderr


@pytest.mark.e2e
def test_outdated_python_slot_is_skipped_with_certbots_warning(
        snapped: Certbot, plugin_snap: EmulatedSnap) -> None:
    plugin_snap.set_connections([Connection("certbot-cleanenv",
                                            read="$SNAP/lib/python3.8/site-packages")])
    result = snapped.run("plugins", env=plugin_snap.snap_env())
    assert "using an outdated python version" in result.stdout + result.stderr
    assert "* cleanenv-nginx" not in result.stdout


@pytest.mark.e2e
def test_stray_distribution_declaring_nginx_breaks_certbot(
        snapped: Certbot, plugin_snap: EmulatedSnap) -> None:
    stray = plugin_snap.plugin_site_packages("stray-plugin")
    dist_info = stray / "stray_nginx-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: stray-nginx\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[certbot.plugins]\nnginx = certbot_cleanenv.configurator:CleanEnvConfigurator\n")
    plugin_snap.set_connections([Connection("certbot-cleanenv"), Connection("stray-plugin")])
    result = snapped.run("plugins", env=plugin_snap.snap_env())
    assert result.returncode != 0
    assert "Duplicate plugin name nginx" in result.stdout + result.stderr
