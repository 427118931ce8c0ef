"""The start policy: pure decisions, the stock parser's view of ``daemon off;``, and real runs."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from certbot import errors

from certbot_cleanenv import _compat, start
from certbot_cleanenv.configurator import CleanEnvConfigurator
from certbot_cleanenv.policy import OptionValueError
from tests.fixtures import faults
from tests.fixtures.certbot import Certbot
from tests.fixtures.nginx import NginxSite, recorded_calls, recording_ctl

MakeConf = Callable[..., CleanEnvConfigurator]
MakeSite = Callable[..., NginxSite]


@pytest.mark.parametrize("value", ["auto", "systemd", "direct", "never"])
def test_start_modes_parse(value: str) -> None:
    assert start.parse_start_mode(value) == value


@pytest.mark.parametrize("value", ["", "Auto", "service", None, ["auto"]])
def test_unknown_start_mode_is_refused(value: object) -> None:
    with pytest.raises(OptionValueError, match="unknown start mode"):
        start.parse_start_mode(value)


@pytest.mark.parametrize(("value", "unit"), [
    ("nginx", "nginx.service"), ("nginx.service", "nginx.service"),
    ("nginx@site-a.service", "nginx@site-a.service"), ("openresty", "openresty.service"),
])
def test_unit_names_parse(value: str, unit: str) -> None:
    assert start.parse_unit(value) == unit


@pytest.mark.parametrize("value", ["", "-nginx", "--now", "a b", "../nginx", "nginx;x", None])
def test_bad_unit_names_are_refused(value: object) -> None:
    with pytest.raises(OptionValueError, match="invalid systemd unit name"):
        start.parse_unit(value)


@pytest.mark.parametrize(("mode", "booted", "loaded", "path"), [
    ("auto", True, True, "systemd"),
    ("auto", True, False, "direct"),
    ("auto", False, True, "direct"),
    ("auto", False, False, "direct"),
    ("systemd", False, False, "systemd"),
    ("direct", True, True, "direct"),
    ("never", True, True, "never"),
])
def test_choose_start(mode: start.StartMode, booted: bool, loaded: bool,
                      path: start.StartPath) -> None:
    assert start.choose_start(mode, systemd_booted=booted, unit_loaded=loaded) == path


@pytest.mark.parametrize(("output", "loaded"), [
    ("loaded\n", True), ("not-found\n", False), ("masked\n", False), ("", False)])
def test_unit_is_loaded(output: str, loaded: bool) -> None:
    assert start.unit_is_loaded(output) is loaded


def test_systemd_booted_reads_its_runtime_dir(tmp_path: Path) -> None:
    assert not start.systemd_booted(str(tmp_path / "system"))
    (tmp_path / "system").mkdir()
    assert start.systemd_booted(str(tmp_path / "system"))


MAIN = "worker_processes 1;\n{main}events {{ }}\nhttp {{\n{http}}}\n"


@pytest.mark.parametrize(("main", "http", "included", "off"), [
    ("daemon off;\n", "", "", True),
    ("daemon  OFF ;\n", "", "", True),
    ('daemon "off";\n', "", "", True),
    ("daemon on;\n", "", "", False),
    ("", "", "", False),
    ("include main.d/*.conf;\n", "", "daemon off;\n", True),
    ("include main.d/*.conf;\n", "", "daemon on;\n", False),
    ("", "include main.d/*.conf;\n", "daemon off;\n", False),  # not the main context
    ("include main.d/*.conf;\n", "", "include main.d/deeper/*.conf;\n", True),
], ids=["off", "off-spaced", "off-quoted", "on", "absent", "included-off", "included-on",
        "in-http", "included-twice-deep"])
def test_daemon_off_as_the_stock_parser_reads_it(tmp_path: Path, main: str, http: str,
                                                 included: str, off: bool) -> None:
    (tmp_path / "main.d" / "deeper").mkdir(parents=True)
    (tmp_path / "main.d" / "a.conf").write_text(included or "# nothing\n")
    (tmp_path / "main.d" / "deeper" / "b.conf").write_text("daemon off;\n")
    (tmp_path / "nginx.conf").write_text(MAIN.format(main=main, http=http))
    parser = _compat.stock_module("parser").NginxParser(str(tmp_path))
    conf = str(tmp_path / "nginx.conf")
    assert start.sets_daemon_off(parser.parsed, conf, parser.root) is off


@pytest.mark.nginx
def test_auto_without_systemd_starts_directly_and_says_so(
        make_configurator: MakeConf, site_factory: MakeSite, tmp_path: Path, nginx_bin: str,
        caplog: pytest.LogCaptureFixture) -> None:
    if start.systemd_booted():
        pytest.skip("systemd runs this host: auto would start nginx through it")
    site = site_factory()
    ctl, log = recording_ctl(tmp_path, nginx_bin)
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(ctl),
                               "--cleanenv-nginx-sleep-seconds", "0")
    plugin.prepare()
    with caplog.at_level(logging.INFO):
        plugin.restart()
    assert site.master_pid() is not None
    assert [call.argv for call in recorded_calls(log)][-2:] == \
        [["-c", str(site.conf), "-s", "reload"], ["-c", str(site.conf)]]
    assert "starting nginx directly" in caplog.text


@pytest.mark.nginx
def test_systemd_start_refused_while_the_unit_is_active(
        make_configurator: MakeConf, site_factory: MakeSite, tmp_path: Path,
        nginx_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed reload with the unit active: a start would be a no-op, so say why instead."""
    site = site_factory()
    site.start()
    tools, calls = faults.recording_systemctl(tmp_path / "bin", nginx_bin, site.conf,
                                              site.root / "nginx.pid")
    monkeypatch.setenv("PATH", f"{tools}:{site.base_env()['PATH']}")
    ctl = faults.scripted_ctl(tmp_path, nginx_bin, {"reload": "fail"})
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(ctl),
                               "--cleanenv-nginx-start", "systemd")
    plugin.prepare()
    with pytest.raises(errors.MisconfigurationError,
                       match=r"nginx\.service is active, so nginx runs but did not take"):
        plugin.restart()
    assert faults.systemctl_calls(calls) == [["is-active", "--quiet", "nginx.service"]]


@pytest.mark.e2e
def test_auto_starts_through_systemd_when_it_runs_the_host(
        certbot: Certbot, site_factory: MakeSite, tmp_path: Path, nginx_bin: str) -> None:
    """Real Certbot, nginx stopped, systemd "running" (its runtime dir in a private /run).

    systemd does not run on the test machine: a recording stand-in for systemctl knows
    the nginx unit and starts nginx as a service would.
    """
    site = site_factory(http_port=certbot.pebble.http_port)
    tools, calls = faults.recording_systemctl(tmp_path / "bin", nginx_bin, site.conf,
                                              site.root / "nginx.pid")
    ctl, log = recording_ctl(tmp_path, nginx_bin)
    certbot.wrap = faults.in_private_mounts(
        "mount -t tmpfs tmpfs /run\nmkdir -p /run/systemd/system")
    env = {**site.base_env(), "HOME": str(tmp_path)}
    env["PATH"] = f"{tools}:{env['PATH']}"
    result = certbot.issue(site, env, "cleanenv-nginx", "--cleanenv-nginx-ctl", str(ctl),
                           "--cleanenv-nginx-sleep-seconds", "1")
    assert result.returncode == 0, result.stderr
    assert faults.systemctl_calls(calls)[:3] == [
        ["show", "--property=LoadState", "--value", "nginx.service"],
        ["is-active", "--quiet", "nginx.service"],
        ["start", "nginx.service"]]
    assert site.master_pid() is not None
    starts = [call for call in recorded_calls(log) if call.argv == ["-c", str(site.conf)]]
    assert starts == [], "the plugin started nginx itself instead of through systemd"
    assert "starting it with systemctl start nginx.service" in \
        (certbot.state / "logs" / "letsencrypt.log").read_text()
