"""pytest plugin: run the stock Nginx plugin's own tests with cleanenv-nginx in its place.

The stock tests build their configurator as ``configurator.NginxConfigurator(...)`` from the
stock module, and patch methods on that name. Pointing the name at our subclass makes every
one of them exercise our class. Two things Certbot's real parser would do for us are done
here instead, because the stock tests use a ``MagicMock`` namespace:

- every option of ours gets its declared default (a ``MagicMock`` is not a policy);
- ``ctl`` is a stand-in nginx that records nothing and exits 0, so no stock test can reach a
  real nginx through our runner (the stock tests mock ``subprocess`` for that; we run a real
  process, through our real runner and policy, that does nothing).

Tests that assert the stock plugin's exact ``subprocess`` call cannot pass against our runner;
``stock-deviations.txt`` lists each with its reason and the test of ours covering it. They are
marked strict expected failures that may fail only by assertion, Certbot error or
``pytest.raises`` not raising: a listed test that passes, or fails any other way, fails the run.
"""
from __future__ import annotations

import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from certbot import errors

from certbot_cleanenv import _compat
from certbot_cleanenv.configurator import CleanEnvConfigurator

DEVIATIONS = Path(__file__).with_name("stock-deviations.txt")
#: The name the stock tests give the plugin; option ``x`` is read as ``nginx_x``.
STOCK_NAME = "nginx"


def read_deviations(path: Path = DEVIATIONS) -> dict[str, str]:
    """``Class::test`` -> reason, from lines ``Class::test: reason`` (``#`` comments)."""
    deviations = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        test, sep, reason = line.partition(": ")
        if not sep or "::" not in test or not reason.strip():
            raise ValueError(f"{path.name}:{number}: expected 'Class::test: reason'")
        deviations[test.strip()] = reason.strip()
    return deviations


def option_defaults(name: str) -> dict[str, Any]:
    """Each option's default under ``name``, as Certbot's parser would set it."""
    defaults: dict[str, Any] = {}

    def add(option: str, **kwargs: Any) -> None:
        defaults[f"{name}_{option.replace('-', '_')}"] = kwargs.get("default")

    CleanEnvConfigurator.add_parser_arguments(add)
    return defaults


def standin_ctl(directory: Path) -> str:
    """An executable that stands in for nginx: accepts any arguments, exits 0."""
    ctl = directory / "nginx"
    ctl.write_text("#!/bin/sh\nexit 0\n")
    ctl.chmod(ctl.stat().st_mode | stat.S_IXUSR)
    return str(ctl)


def pytest_configure(config: pytest.Config) -> None:
    """Put our class where the stock tests look for theirs, and give it its defaults."""
    stock = _compat.load_stock_configurator()
    module = sys.modules[stock.__module__]
    module.NginxConfigurator = CleanEnvConfigurator  # type: ignore[attr-defined]

    from certbot.tests import util as certbot_test_util

    defaults = option_defaults(STOCK_NAME)
    defaults[f"{STOCK_NAME}_ctl"] = standin_ctl(Path(tempfile.mkdtemp(prefix="cleanenv-ctl-")))
    case = certbot_test_util.ConfigTestCase
    original: Callable[[Any], None] = case.setUp

    def set_up(self: Any) -> None:
        original(self)
        for dest, value in defaults.items():
            setattr(self.config.namespace, dest, value)

    case.setUp = set_up  # type: ignore[method-assign]
    config.stash[DEVIATIONS_KEY] = read_deviations()
    config.stash[USED_KEY] = set()


DEVIATIONS_KEY = pytest.StashKey[dict[str, str]]()
#: How a listed test may fail: its assertion, a Certbot error, or ``pytest.raises`` not raising.
#: Anything else (TypeError, AttributeError, ...) is an incompatibility and fails the run.
EXPECTED_FAILURES = (AssertionError, errors.Error, pytest.fail.Exception)
USED_KEY = pytest.StashKey[set[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each listed deviation as a strict, assertion-only expected failure."""
    deviations = config.stash[DEVIATIONS_KEY]
    for item in items:
        key = "::".join(item.nodeid.split("::")[1:])
        if key in deviations:
            config.stash[USED_KEY].add(key)
            item.add_marker(pytest.mark.xfail(strict=True, raises=EXPECTED_FAILURES,
                                              reason=deviations[key]))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say which listed deviations this Certbot's tests do not have (renamed or fixed)."""
    listed: dict[str, str] = config.stash[DEVIATIONS_KEY]
    applied: set[str] = config.stash[USED_KEY]
    unused = sorted(set(listed) - applied)
    used = len(applied)
    terminalreporter.write_line(f"cleanenv stock harness: {used} listed deviations apply here")
    for key in unused:
        terminalreporter.write_line(f"  not in this Certbot's tests: {key}")
