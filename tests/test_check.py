"""``certbot-cleanenv check`` against real nginx, as a user runs it (a subprocess)."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.fixtures.nginx import NginxSite

pytestmark = pytest.mark.nginx
SNAP = "/snap/certbot/4412"
SECRET = "tok-3f9a-do-not-print"  # noqa: S105 - a planted value that must never be printed
MakeSite = Callable[..., NginxSite]


def check(site: NginxSite, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certbot_cleanenv", "check", "--server-root", str(site.root),
         *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def leaky(site: NginxSite) -> dict[str, str]:
    """The snap's OpenSSL module path leaking in, plus a secret in a removed variable."""
    return {**site.base_env(), "SNAP": SNAP, "CERTBOT_SNAPPED": "True",
            "OPENSSL_MODULES": f"{SNAP}/usr/lib/x86_64-linux-gnu/ossl-modules",
            "CERTBOT_VALIDATION": SECRET}


def test_leak_is_exit_1_with_diagnosis(site_factory: MakeSite) -> None:
    site = site_factory(legacy_key=True)
    result = check(site, leaky(site))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "Certbot from a snap: yes" in out
    assert "OPENSSL_MODULES: OpenSSL setting" in out
    assert "CERTBOT_VALIDATION" in out
    assert SECRET not in out + result.stderr
    assert "Inherited environment: nginx -t FAILED" in out
    assert "Scrubbed environment:  nginx -t passed" in out
    assert "cannot load certificate key" in out  # nginx's own words
    assert "Diagnosis (openssl-provider)" in out
    assert "certbot reconfigure" in out


def test_json_report(site_factory: MakeSite) -> None:
    site = site_factory(legacy_key=True)
    result = check(site, leaky(site), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["exit_code"] == 1
    assert report["diagnosis"]["kind"] == "openssl-provider"
    assert {"name": "OPENSSL_MODULES",
            "reason": "OpenSSL setting for the snap's bundled libraries"} in report["removed"]
    assert report["inherited"]["test"]["ok"] is False
    assert report["scrubbed"]["test"]["ok"] is True
    assert report["fips"] in ("0", "1", None)
    assert SECRET not in result.stdout


def test_clean_environment_is_exit_0(site_factory: MakeSite) -> None:
    site = site_factory(legacy_key=True)
    result = check(site, site.base_env())
    assert result.returncode == 0, result.stdout
    assert "works in both environments" in result.stdout


def test_broken_config_is_exit_2_with_nginx_words(site_factory: MakeSite) -> None:
    site = site_factory()
    site.conf.write_text(site.conf.read_text().replace("events {", "events { bogus_directive;"))
    result = check(site, site.base_env())
    assert result.returncode == 2
    assert 'unknown directive "bogus_directive"' in result.stdout
    assert "fix the configuration first" in result.stdout


def test_policy_removing_what_nginx_needs_is_exit_3(site_factory: MakeSite) -> None:
    """minimal drops the host's OPENSSL_CONF, which this nginx needs for its legacy key."""
    site = site_factory(legacy_key=True)
    result = check(site, site.base_env(), "--env-policy", "minimal")
    assert result.returncode == 3
    assert "OPENSSL_CONF: not on the minimal allow-list" in result.stdout
    kept = check(site, site.base_env(), "--env-policy", "minimal", "--keep-env", "OPENSSL_CONF")
    assert kept.returncode == 0


def test_missing_nginx_is_exit_4(site_factory: MakeSite) -> None:
    site = site_factory()
    result = check(site, site.base_env(), "--ctl", "/nonexistent/nginx")
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_json_says_why_it_could_not_run(site_factory: MakeSite) -> None:
    site = site_factory()
    result = check(site, site.base_env(), "--ctl", "/nonexistent/nginx", "--json")
    assert result.returncode == 4
    report = json.loads(result.stdout)
    assert report["exit_code"] == 4
    assert "/nonexistent/nginx" in report["error"]


@pytest.mark.parametrize("args", [["--env-policy", "bogus"], ["--timeout", "0"], ["--nope"],
                                  ["--server-root", ""], ["--ctl", " "]])
def test_usage_errors_are_exit_64(site_factory: MakeSite, args: list[str]) -> None:
    site = site_factory()
    result = check(site, site.base_env(), *args)
    assert result.returncode == 64
    assert result.stderr.startswith("certbot-cleanenv")
    assert " error: " in result.stderr
    assert result.stderr.count("\n") == 1
