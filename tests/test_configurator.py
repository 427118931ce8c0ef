"""The plugin class: a drop-in stock configurator whose nginx children run clean (real nginx)."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from certbot import configuration, errors, interfaces

from certbot_cleanenv import _compat, runner
from certbot_cleanenv.configurator import CleanEnvConfigurator
from certbot_cleanenv.environ import build_child_env
from tests.fixtures.nginx import NginxSite, recorded_calls, recording_ctl

SNAP = "/snap/certbot/4412"
MakeConf = Callable[..., CleanEnvConfigurator]
MakeSite = Callable[..., NginxSite]


def snap_like_env(site: NginxSite) -> dict[str, str]:
    """What Certbot's snap exports, plus the host's own OpenSSL setup (the site's).

    ``CERTBOT_SNAPPED`` is absent: Certbot's own scrub runs only when it is set, as for
    a pip-installed Certbot started from a snap's environment; Certbot 3.2.0's scrub,
    set or not, kept OPENSSL_MODULES (the incident, reproduced in the snap e2e tests).
    """
    return {
        **site.base_env(),
        "PATH": f"{SNAP}/bin:{SNAP}/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
        "SNAP": SNAP, "SNAP_NAME": "certbot", "SNAP_REVISION": "4412", "SNAP_ARCH": "amd64",
        "OPENSSL_MODULES": f"{SNAP}/usr/lib/x86_64-linux-gnu/ossl-modules",
        "OPENSSL_FORCE_FIPS_MODE": "0",
        "AUGEAS_LENS_LIB": f"{SNAP}/usr/share/augeas/lenses/dist",
        "LD_LIBRARY_PATH": f"/snap/certbot/current/usr/lib/x86_64-linux-gnu:{SNAP}/lib",
        "HOME": "/root", "LANG": "C.UTF-8",
    }


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Replace Certbot's process environment for one test (restored afterwards)."""
    def use(env: dict[str, str]) -> None:
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
    return use


def test_subclasses_the_stock_configurator_of_this_certbot() -> None:
    stock = _compat.load_stock_configurator()
    assert stock.__name__ == "NginxConfigurator"
    assert CleanEnvConfigurator.__mro__[1] is stock
    assert issubclass(CleanEnvConfigurator, interfaces.Installer)
    assert issubclass(CleanEnvConfigurator, interfaces.Authenticator)
    # only the child-process methods (and our additions) are ours; the rest is inherited
    overridden = {name for name in vars(CleanEnvConfigurator)
                  if name in vars(stock) and not name.startswith(("__", "_abc"))}
    assert overridden == {"add_parser_arguments", "prepare", "config_test", "restart",
                          "_nginx_version", "more_info", "description", "save"}


def test_stock_options_under_our_prefix(make_configurator: MakeConf, tmp_path: Path) -> None:
    plugin = make_configurator("--cleanenv-nginx-server-root", str(tmp_path),
                               "--cleanenv-nginx-ctl", "/opt/nginx/sbin/nginx",
                               "--cleanenv-nginx-sleep-seconds", "3")
    assert plugin.conf("server-root") == str(tmp_path)
    assert plugin.conf("ctl") == "/opt/nginx/sbin/nginx"
    assert plugin.conf("sleep-seconds") == 3
    assert plugin.nginx_conf == str(tmp_path / "nginx.conf")


@pytest.mark.nginx
@pytest.mark.parametrize("args", [
    (), ("--cleanenv-nginx-env-policy", "minimal", "--cleanenv-nginx-keep-env",
     "HOME,SNAP_NAME,OPENSSL_CONF"),
    ("--cleanenv-nginx-drop-env", "LANG,LC_*", "--cleanenv-nginx-keep-env", "OPENSSL_CONF"),
], ids=["scrub", "minimal-keep", "scrub-drop"])
def test_every_child_gets_the_policy_env(make_configurator: MakeConf, site_factory: MakeSite,
                                         environ: Callable[[dict[str, str]], None],
                                         nginx_bin: str, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture,
                                         args: tuple[str, ...]) -> None:
    caplog.set_level(logging.DEBUG, logger="certbot_cleanenv")
    site = site_factory(legacy_key=True)
    ctl, log = recording_ctl(tmp_path, nginx_bin)
    leaky = snap_like_env(site)
    environ(leaky)
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(ctl),
                               "--cleanenv-nginx-sleep-seconds", "0", *args)
    plugin.prepare()  # -t, then -V (version and OpenSSL version)
    site.start()
    plugin.restart()  # -s reload
    site.stop()
    plugin.restart()  # -s reload fails (not running), then the start
    assert site.master_pid() is not None
    expected = build_child_env(os.environ, plugin.env_policy()).env
    calls = recorded_calls(log)
    conf = ["-c", str(site.conf)]
    assert [call.argv for call in calls] == [
        [*conf, "-t"], [*conf, "-V"], [*conf, "-V"], [*conf, "-s", "reload"],
        [*conf, "-s", "reload"], conf]
    for call in calls:
        assert call.env == expected, call.argv
        assert "OPENSSL_MODULES" not in call.env
        assert SNAP not in call.env["PATH"]
    # at debug level: each child's command and the names removed, with reasons; no value
    runs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Running ")]
    assert len(runs) == len(calls)
    for message, call in zip(runs, calls, strict=True):
        assert message.startswith(f"Running {ctl} {' '.join(call.argv)} with env-policy")
        assert "OPENSSL_MODULES (" in message
    for value in {v for k, v in leaky.items()
                  if k.startswith(("OPENSSL_MODULES", "SNAP")) and v.startswith("/")}:
        assert value not in caplog.text


@pytest.mark.nginx
def test_stock_fails_where_ours_passes(
        make_configurator: MakeConf, site_factory: MakeSite,
        parse_config: Callable[..., configuration.NamespaceConfig],
        environ: Callable[[dict[str, str]], None]) -> None:
    site = site_factory(legacy_key=True)
    environ(snap_like_env(site))
    stock = _compat.load_stock_configurator()(
        parse_config("--nginx-server-root", str(site.root), "--nginx-sleep-seconds", "0"), "nginx")
    with pytest.raises(errors.MisconfigurationError, match="cannot load certificate key"):
        stock.config_test()
    ours = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                             "--cleanenv-nginx-sleep-seconds", "0")
    ours.prepare()
    ours.config_test()

    site.start()
    before = site.master_pid()
    with pytest.raises(errors.MisconfigurationError, match="cannot load certificate key"):
        stock.restart()
    ours.restart()
    assert site.master_pid() == before
    # stock's reload never reached the master (nginx -s parses the config first); ours did
    log = site.error_log.read_text()
    assert log.count("signal 1 (SIGHUP) received") == 1
    assert "[emerg]" not in log


@pytest.mark.nginx
def test_ctl_found_in_childs_path_when_certbot_has_none(
        make_configurator: MakeConf, site_factory: MakeSite,
        environ: Callable[[dict[str, str]], None], nginx_bin: str) -> None:
    """Certbot under cron without PATH: Python alone would search /bin:/usr/bin only."""
    site = site_factory()
    environ({})
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root))
    plugin.prepare()
    assert plugin.conf("ctl") == nginx_bin
    assert plugin.config.cleanenv_nginx_ctl == "nginx"  # the stored option is untouched


def test_ctl_not_found_lists_where_it_looked(make_configurator: MakeConf, tmp_path: Path,
                                             environ: Callable[[dict[str, str]], None]) -> None:
    environ({"PATH": f"{tmp_path}/bin:{SNAP}/usr/sbin"})
    plugin = make_configurator("--cleanenv-nginx-server-root", str(tmp_path))
    with pytest.raises(errors.NoInstallationError) as caught:
        plugin.prepare()
    assert f"{tmp_path}/bin" in str(caught.value)
    assert SNAP not in str(caught.value)  # the snap entry is not where nginx would look


@pytest.mark.nginx
def test_hanging_nginx_times_out(make_configurator: MakeConf, site_factory: MakeSite,
                                 tmp_path: Path) -> None:
    site = site_factory()
    hang = tmp_path / "nginx-hangs"
    hang.write_text("#!/bin/sh\nsleep 600\n")
    hang.chmod(0o755)
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(hang), "--cleanenv-nginx-timeout", "1")
    with pytest.raises(runner.ChildTimeoutError, match=r"did not finish within 1 s"):
        plugin.prepare()


@pytest.mark.nginx
def test_failed_config_test_shows_nginx_words(make_configurator: MakeConf,
                                              site_factory: MakeSite) -> None:
    site = site_factory()
    site.conf.write_text(site.conf.read_text().replace("events {", "events { bogus_directive;"))
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root))
    with pytest.raises(errors.MisconfigurationError, match='unknown directive "bogus_directive"'):
        plugin.prepare()


@pytest.mark.nginx
def test_more_info_states_policy_and_names_only(make_configurator: MakeConf,
                                                site_factory: MakeSite,
                                                environ: Callable[[dict[str, str]], None]) -> None:
    site = site_factory(legacy_key=True)
    environ(snap_like_env(site))
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root))
    assert "env-policy scrub" in str(plugin)  # before prepare: certbot plugins --init
    plugin.prepare()
    info = plugin.more_info()
    assert "env-policy scrub" in info
    assert "OPENSSL_MODULES (OpenSSL setting for the snap's bundled libraries)" in info
    assert "SNAP_REVISION (" in info
    assert SNAP not in info
    assert "Server root" in info  # the stock part is still there


def test_kept_snap_variable_warns_once(make_configurator: MakeConf, tmp_path: Path,
                                       environ: Callable[[dict[str, str]], None],
                                       caplog: pytest.LogCaptureFixture) -> None:
    environ({"PATH": "/usr/bin", "OPENSSL_MODULES": f"{SNAP}/ossl"})
    plugin = make_configurator("--cleanenv-nginx-server-root", str(tmp_path),
                               "--cleanenv-nginx-keep-env", "OPENSSL_MODULES")
    plugin.child_env()
    plugin.child_env()
    warnings = [r for r in caplog.records if "OPENSSL_MODULES" in r.getMessage()]
    assert len(warnings) == 1
    assert SNAP not in warnings[0].getMessage()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("timeout", None, "invalid timeout None"),
    ("timeout", True, "invalid timeout True"),
    ("sleep_seconds", True, "invalid sleep-seconds True"),
    ("sleep_seconds", -1, "invalid sleep-seconds -1"),
    ("keep_env", None, "invalid value None for --cleanenv-nginx-keep-env"),
    ("env_policy", "None", "unknown environment policy 'None'"),
    ("ctl", None, "invalid value None for --cleanenv-nginx-ctl"),
    ("ctl", True, "invalid value True for --cleanenv-nginx-ctl"),
    ("ctl", "", "invalid value '' for --cleanenv-nginx-ctl"),
    ("server_root", None, "invalid value None for --cleanenv-nginx-server-root"),
    ("server_root", True, "invalid value True for --cleanenv-nginx-server-root"),
])
def test_renewal_values_that_bypass_argparse_fail_prepare(
        make_configurator: MakeConf, tmp_path: Path, option: str, value: object,
        message: str) -> None:
    """Certbot eval()s None/True/False from a renewal file and sets them as they are."""
    plugin = make_configurator("--cleanenv-nginx-server-root", str(tmp_path))
    setattr(plugin.config, f"cleanenv_nginx_{option}", value)
    with pytest.raises(errors.PluginError) as caught:
        plugin.prepare()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    if option not in {"ctl", "server_root"}:  # the summary shows neither path
        assert str(plugin).startswith("cleanenv-nginx: invalid option: ")


@pytest.mark.parametrize(("make", "message"), [
    (lambda conf: conf.symlink_to(conf), "Cannot read {conf}: Too many levels of symbolic links"),
    (lambda conf: conf.mkdir(), "No nginx.conf in {root} (--cleanenv-nginx-server-root"),
    (os.mkfifo, "No nginx.conf in {root} (--cleanenv-nginx-server-root"),  # and no hang
], ids=["symlink loop", "directory", "fifo"])
def test_nginx_conf_that_cannot_be_read_is_named(make_configurator: MakeConf, tmp_path: Path,
                                                  make: Callable[[Path], None],
                                                  message: str) -> None:
    make(tmp_path / "nginx.conf")
    plugin = make_configurator("--cleanenv-nginx-server-root", str(tmp_path),
                               "--cleanenv-nginx-ctl", "/bin/true")
    with pytest.raises(errors.MisconfigurationError) as caught:
        plugin.prepare()
    assert message.format(conf=tmp_path / "nginx.conf", root=tmp_path) in str(caught.value)


@pytest.mark.nginx
@pytest.mark.parametrize(("plugins", "warns"), [
    (("-a", "nginx", "-i", "cleanenv-nginx"), True),
    (("-a", "cleanenv-nginx", "-i", "cleanenv-nginx"), False),
    (("--configurator", "cleanenv-nginx"), False),
])
def test_warns_when_stock_plugin_authenticates(make_configurator: MakeConf, site_factory: MakeSite,
                                               caplog: pytest.LogCaptureFixture,
                                               plugins: tuple[str, ...], warns: bool) -> None:
    site = site_factory()
    plugin = make_configurator(*plugins, "--cleanenv-nginx-server-root", str(site.root))
    plugin.prepare()
    warnings = [r.getMessage() for r in caplog.records if "authenticator" in r.getMessage()]
    assert bool(warnings) is warns
    if warns:
        assert "-a cleanenv-nginx -i cleanenv-nginx" in warnings[0]


# --- behaviour the stock tests check through a mocked subprocess (tests/matrix) -----------

BANNER = ("nginx version: nginx/1.25.3\nbuilt with OpenSSL 3.0.15 3 Sep 2024\n"
          "TLS SNI support enabled\nconfigure arguments: --with-http_ssl_module\n")


def banner_ctl(directory: Path, banner: str, stream: str) -> Path:
    """A ctl that prints ``banner`` for ``-V`` on ``stream`` (1 or 2) and passes ``-t``."""
    (directory / "banner").write_text(banner)
    ctl = directory / "nginx-banner"
    ctl.write_text(f'#!/bin/sh\ncase " $* " in *" -V "*) cat "{directory}/banner" >&{stream};; '
                   "esac\nexit 0\n")
    ctl.chmod(0o755)
    return ctl


@pytest.mark.parametrize("stream", ["1", "2"], ids=["stdout", "stderr"])
def test_version_probe_runs_through_our_runner(make_configurator: MakeConf, site_factory: MakeSite,
                                               tmp_path: Path, stream: str) -> None:
    """prepare() learns nginx's and OpenSSL's versions from ``-V`` run by us, on either stream."""
    site = site_factory()
    ctl = banner_ctl(tmp_path, BANNER, stream)
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(ctl))
    plugin.prepare()
    assert plugin.version == (1, 25, 3)
    assert plugin.openssl_version == "3.0.15"


@pytest.mark.nginx
def test_version_probe_on_real_nginx(make_configurator: MakeConf, site_factory: MakeSite,
                                     nginx_bin: str) -> None:
    site = site_factory()
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root))
    plugin.prepare()
    said = runner.run_nginx([nginx_bin, "-v"], {}, timeout=10).output
    assert said.strip() == f"nginx version: nginx/{'.'.join(map(str, plugin.version))}"


ODD_BANNERS = [
    ("nginx version: openresty/1.21.4.1\n" + BANNER.split("\n", 1)[1], (1, 21, 4, 1), False),
    ("Tengine version: Tengine/2.3.3 (nginx/1.18.0)\n" + BANNER.split("\n", 1)[1],
     (1, 18, 0), True),
    ("nginx version: nginx/\n" + BANNER.split("\n", 1)[1], (1, 13, 0), True),
    ("blah 0.0.1\n" + BANNER.split("\n", 1)[1], (1, 13, 0), True),
    ("wrapper: starting nginx\n" + BANNER, (1, 25, 3), False),
]


@pytest.mark.parametrize(("text", "version", "warns"), ODD_BANNERS,
                         ids=["openresty", "tengine", "no-digits", "no-version", "wrapper"])
def test_odd_banners_warn_and_go_on(make_configurator: MakeConf, site_factory: MakeSite,
                                    tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                    text: str, version: tuple[int, ...], warns: bool) -> None:
    """An -V banner the stock parser cannot read gets a version and one warning, no failure."""
    site = site_factory()
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(banner_ctl(tmp_path, text, "1")))
    plugin.prepare()
    assert plugin.version == version
    assert plugin.openssl_version == "3.0.15"
    ours = [r for r in caplog.records if r.name == "certbot_cleanenv.configurator"
            and "nginx -V" in r.getMessage()]
    assert len(ours) == (1 if warns else 0)


def test_failing_version_probe_says_so(make_configurator: MakeConf, site_factory: MakeSite,
                                       tmp_path: Path) -> None:
    """-V that cannot even start nginx (a missing library) is that error, not a guessed version."""
    site = site_factory()
    ctl = tmp_path / "nginx-broken-V"
    ctl.write_text('#!/bin/sh\ncase " $* " in *" -V "*) echo "nginx: error while loading '
                   'shared libraries: libssl.so.3: cannot open shared object file" >&2; '
                   'exit 127;; esac\nexit 0\n')
    ctl.chmod(0o755)
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(ctl))
    with pytest.raises(errors.PluginError,
                       match=r"-V failed \(exit status 127\): .*libssl\.so\.3"):
        plugin.prepare()


def test_banner_without_ssl_module_still_fails_clearly(make_configurator: MakeConf,
                                                       site_factory: MakeSite,
                                                       tmp_path: Path) -> None:
    site = site_factory()
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl",
                               str(banner_ctl(tmp_path, "nginx version: nginx/1.2.3\n", "2")))
    with pytest.raises(errors.PluginError, match="missing SSL module"):
        plugin.prepare()


@pytest.mark.nginx
def test_restart_fails_when_start_fails_too(make_configurator: MakeConf, site_factory: MakeSite,
                                            tmp_path: Path, nginx_bin: str) -> None:
    """Not running and cannot start (port taken): reload, then start, then nginx's words."""
    site = site_factory()
    ctl, log = recording_ctl(tmp_path, nginx_bin)
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(ctl),
                               "--cleanenv-nginx-sleep-seconds", "0")
    plugin.prepare()
    site.conf.write_text(site.conf.read_text().replace("events {", "events { bogus_directive;"))
    with pytest.raises(errors.MisconfigurationError,
                       match=r'nginx restart failed: .*-s reload failed \(exit status 1\).*; then '
                             r'.* \(exit status 1\): .*unknown directive "bogus_directive"'):
        plugin.restart()
    assert [call.argv[-2:] for call in recorded_calls(log)][-2:] == \
        [["-s", "reload"], ["-c", str(site.conf)]]


def test_ctl_gone_after_prepare_is_a_misconfiguration(make_configurator: MakeConf,
                                                      site_factory: MakeSite,
                                                      tmp_path: Path) -> None:
    """nginx removed between prepare() and the reload: a one-line Certbot error, no OSError."""
    site = site_factory()
    ctl = banner_ctl(tmp_path, BANNER, "2")
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(ctl))
    plugin.prepare()
    ctl.unlink()
    with pytest.raises(errors.MisconfigurationError, match=f"Could not run {ctl} -c"):
        plugin.restart()


@pytest.mark.nginx
def test_user_sleep_seconds_is_kept_on_top(make_configurator: MakeConf, site_factory: MakeSite,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A sleep-seconds the user set is waited after the reload is confirmed, not instead."""
    import certbot_cleanenv.configurator as module

    site = site_factory()
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-sleep-seconds", "2")
    plugin.prepare()
    site.start()
    slept: list[float] = []
    monkeypatch.setattr(module, "time", SimpleNamespace(sleep=slept.append))  # ours only
    plugin.restart()
    assert slept == [2]
