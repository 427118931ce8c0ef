"""Certbot as its snap runs it (emulated: private mount namespace, /snap, fake snapd).

Real Certbot, real nginx, real Pebble; only snapd is faked. The "host" OpenSSL config
activates the legacy provider, which one server block's DES-encrypted key needs, so a
variable that makes nginx's OpenSSL look for providers or config inside the snap
breaks nginx for real, as OPENSSL_MODULES broke it on RHEL 9 with Certbot 3.2.0.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from tests.fixtures.certbot import Certbot
from tests.fixtures.net import served_certificate
from tests.fixtures.nginx import NginxSite, recorded_calls, recording_ctl
from tests.fixtures.snap import Connection, EmulatedSnap

pytestmark = pytest.mark.e2e
MakeSite = Callable[..., NginxSite]
NGINX_ERROR = "cannot load certificate key"
BOUND = 120  # seconds: "fails" must mean "ends with an error", never "hangs"


def lineage_serial(certbot: Certbot, name: str) -> int:
    cert = certbot.state / "config" / "live" / name / "cert.pem"
    return x509.load_pem_x509_certificate(cert.read_bytes()).serial_number


def assert_serves_lineage(certbot: Certbot, site: NginxSite) -> int:
    serial = lineage_serial(certbot, site.domain)
    assert served_certificate(site.https_port, site.domain).serial_number == serial
    return serial


#: What the snap and Certbot's snap start-up add to the environment; nginx gets none of it.
SNAP_ADDED = ("SNAP", "CERTBOT_", "OPENSSL_", "AUGEAS_")


def leaked(env: dict[str, str]) -> list[str]:
    """Names in ``env`` set by the snap or Certbot, or whose value mentions ``/snap/``.

    Independent of the plugin's own tables, so a rule dropped from them shows up here.
    """
    return sorted(name for name, value in env.items()
                  if name.startswith(SNAP_ADDED) or "/snap/" in value)


def test_incident_reproduced_and_fixed(certbot: Certbot, certbot_320: Path,
                                       plugin_snap: EmulatedSnap, site_factory: MakeSite,
                                       tmp_path: Path) -> None:
    """Certbot 3.2.0 in its snap: stock renew fails on nginx's provider error; connected
    to our plugin snap and reconfigured, it renews."""
    emulated_snap = plugin_snap
    old = Certbot(tmp_path / "certbot-3.2.0", certbot.pebble, certbot_320,
                  wrap=emulated_snap.command)
    site = site_factory(legacy_key=True, http_port=certbot.pebble.http_port)
    emulated_snap.start_nginx(site)
    # Issued by an earlier snap revision, before the snap exported OPENSSL_MODULES.
    issued = old.issue(site, emulated_snap.snap_env(openssl_modules=False), "nginx",
                       "--nginx-sleep-seconds", "2")  # stock guesses; give a busy host room
    assert issued.returncode == 0, issued.stderr
    first = assert_serves_lineage(old, site)

    snap_env = emulated_snap.snap_env()  # the 3.2.0 revision: OPENSSL_MODULES into the snap
    stock = old.renew(snap_env, timeout=BOUND)
    assert stock.returncode != 0
    assert NGINX_ERROR in stock.stdout + stock.stderr
    assert assert_serves_lineage(old, site) == first

    emulated_snap.set_connections([Connection("certbot-cleanenv")])  # snap connect
    switched = old.run("reconfigure", "--cert-name", site.domain, "-a", "cleanenv-nginx",
                       "-i", "cleanenv-nginx", "--cleanenv-nginx-server-root", str(site.root),
                       "--cleanenv-nginx-sleep-seconds", "1", "--no-verify-ssl", env=snap_env)
    assert switched.returncode == 0, switched.stderr
    params = old.renewal_params(site.domain)
    assert (params["authenticator"], params["installer"]) == ("cleanenv-nginx", "cleanenv-nginx")

    renewed = old.renew(snap_env)
    assert renewed.returncode == 0, renewed.stderr
    assert assert_serves_lineage(old, site) != first


def test_next_leak_current_certbot(snap_certbot: Certbot, emulated_snap: EmulatedSnap,
                                   site_factory: MakeSite) -> None:
    """Certbot 5.x scrubs the two OpenSSL variables; OPENSSL_CONF into the snap still leaks."""
    site = site_factory(legacy_key=True, http_port=snap_certbot.pebble.http_port)
    emulated_snap.start_nginx(site)
    env = emulated_snap.snap_env(
        extra={"OPENSSL_CONF": f"{emulated_snap.snap_dir}/usr/lib/ssl/openssl.cnf"})
    stock = snap_certbot.issue(site, env, "nginx", "--nginx-sleep-seconds", "1")
    assert stock.returncode != 0
    assert NGINX_ERROR in stock.stdout + stock.stderr

    ours = snap_certbot.issue(site, env, "cleanenv-nginx", "--cleanenv-nginx-sleep-seconds", "1")
    assert ours.returncode == 0, ours.stderr
    assert_serves_lineage(snap_certbot, site)


def test_renewal_conf_restores_options(snap_certbot: Certbot, emulated_snap: EmulatedSnap,
                                       site_factory: MakeSite, nginx_bin: str,
                                       tmp_path: Path) -> None:
    """Options given once come back on a bare ``certbot renew``, typed, and are used."""
    site = site_factory(legacy_key=True, http_port=snap_certbot.pebble.http_port)
    ctl, log = recording_ctl(tmp_path, nginx_bin)
    emulated_snap.start_nginx(site)
    # EXTRA: scrub would keep it, minimal drops it. LC_ALL: minimal would keep it, the
    # drop list (LC_*) removes it. So each stored option shows in what nginx gets.
    env = emulated_snap.snap_env(extra={"KEEP_ME": "1", "LC_ALL": "C.UTF-8", "EXTRA": "1"})
    options = {"keep-env": "HOME,KEEP_ME", "drop-env": "LANG,LC_*", "timeout": "5",
               "env-policy": "minimal", "server-root": str(site.root), "ctl": str(ctl)}
    issued = snap_certbot.issue(site, env, "cleanenv-nginx", *[
        a for name, value in options.items() for a in (f"--cleanenv-nginx-{name}", value)])
    assert issued.returncode == 0, issued.stderr
    params = snap_certbot.renewal_params(site.domain)
    assert {k: v for k, v in params.items() if k.startswith("cleanenv_nginx_")} == {
        "cleanenv_nginx_keep_env": ["HOME", "KEEP_ME"],
        "cleanenv_nginx_drop_env": ["LANG", "LC_*"],
        "cleanenv_nginx_timeout": "5.0",
        "cleanenv_nginx_env_policy": "minimal",
        "cleanenv_nginx_server_root": str(site.root),
        "cleanenv_nginx_ctl": str(ctl),
    }

    log.unlink()
    renewed = snap_certbot.renew(env)
    assert renewed.returncode == 0, renewed.stderr
    calls = recorded_calls(log)
    assert calls, "renew did not run nginx through the stored ctl"
    for call in calls:
        assert set(call.env) == {"PATH", "HOME", "KEEP_ME"}, call.argv
        assert leaked(call.env) == []

    Path(f"{log}.hang").touch()  # now nginx -t hangs: the stored 5 s timeout must apply
    hung = snap_certbot.renew(env, timeout=BOUND)
    assert hung.returncode != 0
    assert "did not finish within 5 s" in hung.stdout + hung.stderr


@pytest.mark.parametrize("plugin", ["cleanenv-nginx", "nginx"])
def test_started_daemon_environment(snap_certbot: Certbot, emulated_snap: EmulatedSnap,
                                    site_factory: MakeSite, nginx_bin: str, tmp_path: Path,
                                    plugin: str) -> None:
    """nginx not running: the fallback start gives the master a clean env (stock: dirty)."""
    site = site_factory(http_port=snap_certbot.pebble.http_port)
    ctl, log = recording_ctl(tmp_path, nginx_bin)
    result = snap_certbot.issue(site, emulated_snap.snap_env(), plugin, f"--{plugin}-ctl",
                                str(ctl), f"--{plugin}-sleep-seconds", "2")
    assert result.returncode == 0, result.stderr
    starts = [call for call in recorded_calls(log) if call.argv == ["-c", str(site.conf)]]
    assert len(starts) == 1
    master_env = starts[0].env
    if plugin == "cleanenv-nginx":
        assert leaked(master_env) == []
    else:  # what the stock plugin's master keeps for life
        assert {"SNAP", "SNAP_NAME", "CERTBOT_SNAPPED", "AUGEAS_LENS_LIB"} <= set(master_env)
    assert_serves_lineage(snap_certbot, site)


def test_authenticator_reload_is_clean(snap_certbot: Certbot, emulated_snap: EmulatedSnap,
                                       site_factory: MakeSite, nginx_bin: str,
                                       tmp_path: Path) -> None:
    """During http-01 our authenticator reloads nginx (config holds the challenge) cleanly."""
    site = site_factory(http_port=snap_certbot.pebble.http_port)
    emulated_snap.start_nginx(site)
    ctl, log = recording_ctl(tmp_path, nginx_bin)
    result = snap_certbot.issue(site, emulated_snap.snap_env(), "cleanenv-nginx",
                                "--cleanenv-nginx-ctl", str(ctl),
                                "--cleanenv-nginx-sleep-seconds", "1")
    assert result.returncode == 0, result.stderr
    calls = recorded_calls(log)
    challenge_reloads = [c for c in calls if c.challenge and c.argv[-2:] == ["-s", "reload"]]
    assert challenge_reloads, [c.argv for c in calls]
    for call in calls:
        assert leaked(call.env) == [], call.argv
