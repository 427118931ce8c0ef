"""Real Certbot issues, installs and renews through cleanenv-nginx against Pebble and nginx."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from tests.fixtures.certbot import Certbot
from tests.fixtures.net import served_certificate
from tests.fixtures.nginx import NginxSite

pytestmark = pytest.mark.e2e


def lineage_serial(certbot: Certbot, name: str) -> int:
    cert = certbot.state / "config" / "live" / name / "cert.pem"
    return x509.load_pem_x509_certificate(cert.read_bytes()).serial_number


def test_issue_install_and_renew(certbot: Certbot, site_factory: Callable[..., NginxSite],
                                 tmp_path: Path) -> None:
    site = site_factory(http_port=certbot.pebble.http_port)
    site.start()
    env = {**site.base_env(), "LANG": "C.UTF-8", "HOME": str(tmp_path)}

    issued = certbot.issue(site, env, "cleanenv-nginx", "--cleanenv-nginx-sleep-seconds", "1")
    assert issued.returncode == 0, issued.stderr
    params = certbot.renewal_params(site.domain)
    assert params["authenticator"] == "cleanenv-nginx"
    assert params["installer"] == "cleanenv-nginx"
    assert params["cleanenv_nginx_server_root"] == str(site.root)
    first = lineage_serial(certbot, site.domain)
    assert served_certificate(site.https_port, site.domain).serial_number == first

    renewed = certbot.renew(env)
    assert renewed.returncode == 0, renewed.stderr
    second = lineage_serial(certbot, site.domain)
    assert second != first
    assert served_certificate(site.https_port, site.domain).serial_number == second


def test_configurator_shortcut(certbot: Certbot, site_factory: Callable[..., NginxSite],
                               tmp_path: Path) -> None:
    """``--configurator cleanenv-nginx`` sets both plugins."""
    site = site_factory(http_port=certbot.pebble.http_port)
    site.start()
    env = {**site.base_env(), "HOME": str(tmp_path)}
    result = certbot.run(
        "run", "--configurator", "cleanenv-nginx", "--agree-tos", "-m", "admin@example.org",
        "--no-verify-ssl", "--server", certbot.pebble.directory_url,
        "--http-01-port", str(site.http_port), "--https-port", str(site.https_port),
        "--cleanenv-nginx-server-root", str(site.root), "--cleanenv-nginx-sleep-seconds", "1",
        "-d", site.domain, env=env)
    assert result.returncode == 0, result.stderr
    params = certbot.renewal_params(site.domain)
    assert (params["authenticator"], params["installer"]) == ("cleanenv-nginx", "cleanenv-nginx")
    assert served_certificate(site.https_port, site.domain).serial_number == \
        lineage_serial(certbot, site.domain)
