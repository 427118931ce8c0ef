"""What a user sees from the real ``certbot`` command: listing, help, usage errors."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.nginx import NginxSite

CERTBOT = str(Path(sys.executable).with_name("certbot"))
README = Path(__file__).resolve().parents[1] / "README.rst"


def certbot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CERTBOT, *args, "--config-dir", str(tmp_path / "c"), "--work-dir", str(tmp_path / "w"),
         "--logs-dir", str(tmp_path / "l")],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)


def test_plugins_lists_us_once_next_to_stock(tmp_path: Path) -> None:
    out = certbot(tmp_path, "plugins").stdout
    assert out.count("* cleanenv-nginx\n") == 1
    assert out.count("* nginx\n") == 1
    ours = out.split("* cleanenv-nginx\n")[1].split("\n* ")[0]
    assert "clean environment" in ours
    interfaces = ours.split("Interfaces: ")[1].split("\n")[0].split(", ")
    assert {"Authenticator", "Installer"} <= set(interfaces)  # order varies by version


def test_help_lists_every_option_and_readme_documents_it(tmp_path: Path) -> None:
    help_text = certbot(tmp_path, "--help", "cleanenv-nginx").stdout
    flags = sorted(set(re.findall(r"--cleanenv-nginx-[a-z-]+", help_text)))
    assert flags == sorted(f"--cleanenv-nginx-{name}" for name in (
        "server-root", "ctl", "sleep-seconds", "env-policy", "keep-env", "drop-env", "timeout",
        "start", "unit"))
    table = README.read_text().split("Options\n-------")[1].split("Environment policies")[0]
    for flag in flags:
        assert f"``{flag} " in table, f"{flag} missing from README's options table"


BAD_VALUES = [
    (["--cleanenv-nginx-env-policy", "bogus"], "unknown environment policy 'bogus'"),
    (["--cleanenv-nginx-start", "sometimes"], "unknown start mode 'sometimes'"),
    (["--cleanenv-nginx-unit=-nginx"], "invalid systemd unit name '-nginx'"),
    (["--cleanenv-nginx-unit", "a b"], "invalid systemd unit name 'a b'"),
    (["--cleanenv-nginx-keep-env", "FOO=BAR"], "invalid variable name 'FOO=BAR'"),
    (["--cleanenv-nginx-keep-env", "1X"], "invalid variable name '1X'"),
    (["--cleanenv-nginx-keep-env", "A B"], "invalid variable name 'A B'"),
    (["--cleanenv-nginx-keep-env", ""], "empty variable name"),
    (["--cleanenv-nginx-drop-env", "A,,B"], "empty variable name"),
    (["--cleanenv-nginx-drop-env", "*"], "invalid variable name '*'"),
    (["--cleanenv-nginx-timeout", "abc"], "invalid timeout 'abc'"),
    (["--cleanenv-nginx-timeout", "0"], "invalid timeout '0'"),
    (["--cleanenv-nginx-timeout", "-5"], "invalid timeout '-5'"),
    (["--cleanenv-nginx-timeout", "nan"], "invalid timeout 'nan'"),
    (["--cleanenv-nginx-sleep-seconds=-5"], "invalid sleep-seconds '-5'"),
    (["--cleanenv-nginx-sleep-seconds", "soon"], "invalid sleep-seconds 'soon'"),
    (["--cleanenv-nginx-sleep-seconds", "0.5"], "invalid sleep-seconds '0.5'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_VALUES,
                         ids=[" ".join(args) for args, _ in BAD_VALUES])
def test_bad_option_value_is_one_line_usage_error(tmp_path: Path, args: list[str],
                                                  message: str) -> None:
    result = certbot(tmp_path, "plugins", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert message in errors[0]


@pytest.mark.nginx
def test_plugins_prepare_shows_what_is_removed_names_only(
        tmp_path: Path, site_factory: Callable[..., NginxSite]) -> None:
    site = site_factory()
    value = "/snap/certbot/4412/usr/lib/x86_64-linux-gnu/ossl-modules"
    result = subprocess.run(
        [CERTBOT, "plugins", "--init", "--prepare", "-i", "cleanenv-nginx",
         "--cleanenv-nginx-server-root", str(site.root),
         "--config-dir", str(tmp_path / "c"), "--work-dir", str(tmp_path / "w"),
         "--logs-dir", str(tmp_path / "l")],
        env={**site.base_env(), "OPENSSL_MODULES": value, "CERTBOT_API_TOKEN": "s3cr3t-x"},
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    ours = " ".join(result.stdout.split("* cleanenv-nginx\n")[1].split("\n* ")[0].split())
    assert "OPENSSL_MODULES (OpenSSL setting for the snap's bundled libraries)" in ours
    assert "CERTBOT_API_TOKEN (" in ours
    assert value not in result.stdout + result.stderr
    assert "s3cr3t-x" not in result.stdout + result.stderr


def test_server_root_without_nginx_conf_is_named_not_hidden(tmp_path: Path) -> None:
    """The plugin stays listed with the reason, as stock does; a real run says it in one line."""
    empty = tmp_path / "empty"
    empty.mkdir()
    listed = certbot(tmp_path, "plugins", "--init", "--prepare",
                     "--cleanenv-nginx-server-root", str(empty))
    ours = listed.stdout.split("* cleanenv-nginx\n")[1].split("\n* ")[0]
    assert f"No nginx.conf in {empty} (--cleanenv-nginx-server-root" in " ".join(ours.split())
    run = certbot(tmp_path, "certonly", "-n", "-a", "cleanenv-nginx", "-d", "a.example.test",
                  "--agree-tos", "-m", "a@example.org", "--cleanenv-nginx-server-root",
                  str(empty))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert f"No nginx.conf in {empty} (--cleanenv-nginx-server-root names nginx's " \
           "configuration directory, e.g. /etc/nginx)" in run.stderr
