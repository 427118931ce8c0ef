"""The version matrix's own bookkeeping: tested versions, deviations list, harness defaults."""
from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import pytest

from certbot_cleanenv import runner
from tests.matrix import __main__ as matrix
from tests.matrix import stock_harness

REPO = Path(__file__).resolve().parents[1]


def version_key(version: str) -> tuple[int, ...]:
    parts = [int(part) for part in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def test_matrix_spans_the_supported_range() -> None:
    """Oldest tested = setup.cfg's floor; the incident's release and both layouts are in."""
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    requires = setup["options"]["install_requires"].split()
    floors = {name: floor for name, floor in (r.split(">=") for r in requires)}
    versions = matrix.tested_versions()
    assert version_key(versions[0]) == version_key(floors["certbot"]) \
        == version_key(floors["certbot-nginx"])
    assert "3.2.0" in versions
    assert any(version_key(v) < (5, 5) <= version_key(w) for v in versions for w in versions)
    assert versions == sorted(versions, key=version_key)


def test_every_deviation_names_tests_of_ours_that_exist() -> None:
    ours = {path.name: {node.name for node in ast.walk(ast.parse(path.read_text()))
                        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
            for path in (REPO / "tests").glob("test_*.py")}
    deviations = stock_harness.read_deviations()
    assert deviations
    for stock_test, reason in deviations.items():
        covered = reason.split("covered by ", 1)[1]
        for name in (part.strip() for part in covered.split(",")):
            module, _, test = name.rpartition("::")
            module = Path(module).name if module else "test_configurator.py"
            assert test in ours[module], f"{stock_test}: {name} does not exist"


@pytest.mark.parametrize("line", ["NginxConfiguratorTest::test_x", "test_x: no class",
                                  "A::test_x:  "])
def test_malformed_deviation_lines_are_refused(tmp_path: Path, line: str) -> None:
    path = tmp_path / "deviations.txt"
    path.write_text(f"# comment\n\n{line}\n")
    with pytest.raises(ValueError, match=r"deviations.txt:3: expected"):
        stock_harness.read_deviations(path)


def test_harness_gives_each_option_certbots_default() -> None:
    """What Certbot's parser would set for a plugin named ``nginx``, ours included."""
    defaults = stock_harness.option_defaults("nginx")
    assert defaults["nginx_env_policy"] == "scrub"
    assert defaults["nginx_timeout"] == 60
    assert defaults["nginx_ctl"] == "nginx"
    assert {"nginx_server_root", "nginx_sleep_seconds", "nginx_keep_env", "nginx_drop_env"} \
        <= set(defaults)
    assert all(re.fullmatch(r"nginx_[a-z_]+", name) for name in defaults)


def test_standin_ctl_runs_and_succeeds(tmp_path: Path) -> None:
    ctl = stock_harness.standin_ctl(tmp_path)
    assert runner.run_nginx([ctl, "-c", "/nonexistent", "-s", "reload"], {}, timeout=10) \
        .returncode == 0
