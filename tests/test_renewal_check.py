"""Renewal keys Certbot would silently ignore for cleanenv-nginx: one row per kind."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from certbot_cleanenv.configurator import CleanEnvConfigurator
from certbot_cleanenv.renewal_check import renewal_warnings
from tests.fixtures.certbot import Certbot
from tests.fixtures.nginx import NginxSite

KNOWN = CleanEnvConfigurator.option_names()
OURS = {"authenticator": "cleanenv-nginx", "installer": "cleanenv-nginx"}


def test_option_names_are_ours_and_stock() -> None:
    assert {"server_root", "ctl", "sleep_seconds", "env_policy", "keep_env", "drop_env",
            "timeout", "start", "unit"} == KNOWN


@pytest.mark.parametrize(("params", "says"), [
    ({**OURS, "nginx_server_root": "/etc/nginx"}, ["rename it cleanenv_nginx_server_root"]),
    ({"authenticator": "webroot", "installer": "cleanenv-nginx", "nginx_ctl": "x"},
     ["rename it cleanenv_nginx_ctl"]),
    ({**OURS, "cleanenv-nginx-ctl": "/usr/sbin/nginx"}, ["rename it cleanenv_nginx_ctl"]),
    ({**OURS, "cleanenv_nginx-timeout": "5"}, ["rename it cleanenv_nginx_timeout"]),
    ({**OURS, "cleanenv_nginx_timeuot": "5"}, ["not an option of cleanenv-nginx"]),
    ({**OURS, "cleanenv_nginx_timeout": "5", "cleanenv_nginx_keep_env": ["A", "B"]}, []),
    ({"authenticator": "nginx", "installer": "cleanenv-nginx", "nginx_server_root": "/x"}, []),
    ({"authenticator": "nginx", "installer": "nginx", "nginx_server_root": "/x",
      "cleanenv-nginx-ctl": "x"}, []),
    ({**OURS, "server": "https://acme.example/dir", "account": "abc"}, []),
], ids=["stale-stock", "stale-stock-webroot", "dashed", "half-dashed", "misspelt", "good",
        "stock-authenticator-uses-it", "not-ours", "certbot-keys"])
def test_renewal_warnings(params: dict[str, object], says: list[str]) -> None:
    warnings = renewal_warnings(params, KNOWN)
    assert len(warnings) == len(says)
    for warning, words in zip(warnings, says, strict=True):
        assert words in warning


@pytest.mark.e2e
def test_real_renew_warns_about_ignored_keys_and_refuses_garbage(
        certbot: Certbot, site_factory: Callable[..., NginxSite], tmp_path: Path) -> None:
    site = site_factory(http_port=certbot.pebble.http_port)
    site.start()
    env = {**site.base_env(), "HOME": str(tmp_path)}
    assert certbot.issue(site, env).returncode == 0
    conf = certbot.state / "config" / "renewal" / f"{site.domain}.conf"
    good = conf.read_text()
    conf.write_text(good.replace("[renewalparams]\n", "[renewalparams]\n"
                                 "nginx_sleep_seconds = 5\ncleanenv-nginx-timeout = 9\n"))

    renewed = certbot.renew(env)
    assert renewed.returncode == 0, renewed.stderr
    said = renewed.stdout + renewed.stderr
    assert said.count("nginx_sleep_seconds is an option of the stock nginx plugin") == 1
    assert said.count("rename it cleanenv_nginx_timeout") == 1

    for line, reason in [
            ("cleanenv_nginx_timeout = soon", "invalid timeout 'soon'"),
            ("cleanenv_nginx_ctl = None", "invalid value None for --cleanenv-nginx-ctl"),
            ("cleanenv_nginx_server_root = None",
             "invalid value None for --cleanenv-nginx-server-root")]:
        key = line.split(" = ")[0]  # one value per key: configobj refuses duplicates
        kept = "".join(row for row in good.splitlines(keepends=True)
                       if not row.startswith(f"{key} ="))
        conf.write_text(kept.replace("[renewalparams]\n", f"[renewalparams]\n{line}\n"))
        refused = certbot.renew(env)
        assert refused.returncode != 0, line
        assert reason in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert "TypeError" not in refused.stderr
