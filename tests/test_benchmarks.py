"""The benchmarks keep working: their set-ups run on real nginx (figures are not checked)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks import reload_latency, slow_reload, startup
from certbot_cleanenv.environ import build_child_env
from certbot_cleanenv.policy import EnvPolicy
from tests.fixtures import net
from tests.fixtures.nginx import NginxSite


@pytest.mark.nginx
def test_reload_latency_measures_real_reloads(tmp_path: Path, nginx_bin: str) -> None:
    ours, own, lag = reload_latency.measure(10, 2, tmp_path)
    assert (ours.n, own.n, lag.n) == (2, 2, 2)
    assert ours.median > 0
    assert own.median > 0


@pytest.mark.nginx
def test_reload_latency_config_is_valid_nginx(tmp_path: Path, nginx_bin: str) -> None:
    site = NginxSite(tmp_path / "site")
    reload_latency.write_config(site, net.free_port(), 1000, 1)
    reload_latency.write_config(site, net.free_port(), 1000, 2)  # rewritten, not appended
    assert site.conf.read_text().count("server_name s999.example.test;") == 1
    subprocess.run([nginx_bin, "-t", "-c", str(site.conf)], env=site.base_env(), check=True,
                   capture_output=True, timeout=60)


@pytest.mark.nginx
def test_slow_site_takes_at_least_what_was_asked(tmp_path: Path, nginx_bin: str) -> None:
    site, took = slow_reload.slow_site(tmp_path, net.free_port(), 0.2)
    assert took >= 0.2
    assert "*.example.test" in site.conf.read_text()
    assert slow_reload.config_read_time(site) > 0


def test_startup_environment_is_a_snapped_one() -> None:
    env = startup.snapped_environment(300)
    assert len(env) == 300
    child = build_child_env(env, EnvPolicy()).env
    assert not any("/snap/" in value for value in child.values())
    assert "OPENSSL_MODULES" not in child
