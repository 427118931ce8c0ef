"""Option parsing: command line, policy building, and the renewal-configuration round trip."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import configobj
import pytest
from certbot import configuration
from certbot._internal import renewal, storage

from certbot_cleanenv import policy
from certbot_cleanenv.policy import EnvPolicy, OptionValueError

ParseConfig = Callable[..., configuration.NamespaceConfig]


@pytest.mark.parametrize(("value", "expected"), [
    ("HOME", ("HOME",)), ("HOME,LANG", ("HOME", "LANG")), (" HOME , LANG ,", ("HOME", "LANG")),
    (["HOME", "LANG"], ("HOME", "LANG")), (["HOME"], ("HOME",)), ("HOME,", ("HOME",)), ([], ()),
    ("A,A", ("A",)), ("_x1", ("_x1",)),
])
def test_keep_env_accepts_string_or_list(value: str | list[str], expected: tuple[str, ...]) -> None:
    assert policy.parse_keep_env(value) == expected


@pytest.mark.parametrize("value", ["FOO=BAR", "1X", "A B", "A-B", "X*", "*", "A,B=", "é"])
def test_keep_env_rejects_invalid_names(value: str) -> None:
    with pytest.raises(OptionValueError, match="invalid variable name"):
        policy.parse_keep_env(value)


@pytest.mark.parametrize("value", ["", " ", "A,,B", ",A", ",", "A, ,"])
@pytest.mark.parametrize("parse", [policy.parse_keep_env, policy.parse_drop_env],
                         ids=["keep", "drop"])
def test_empty_names_are_refused(parse: Callable[[str], tuple[str, ...]], value: str) -> None:
    with pytest.raises(OptionValueError, match="empty variable name"):
        parse(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("MY_*", ("MY_*",)), ("A,B_*", ("A", "B_*")), (["LC_*"], ("LC_*",)), ("_*", ("_*",)),
])
def test_drop_env_allows_trailing_star(value: str | list[str], expected: tuple[str, ...]) -> None:
    assert policy.parse_drop_env(value) == expected


@pytest.mark.parametrize("value", ["*", "*X", "A*B", "A**", "FOO=BAR*", "1X*"])
def test_drop_env_rejects_other_patterns(value: str) -> None:
    with pytest.raises(OptionValueError):
        policy.parse_drop_env(value)


@pytest.mark.parametrize("value", ["scrub", "minimal", "off"])
def test_modes(value: str) -> None:
    assert policy.parse_mode(value) == value


@pytest.mark.parametrize("value", ["Scrub", "", "none", "strict"])
def test_unknown_mode(value: str) -> None:
    with pytest.raises(OptionValueError, match="unknown environment policy"):
        policy.parse_mode(value)


@pytest.mark.parametrize(("value", "expected"), [("60", 60.0), ("0.5", 0.5), (12, 12.0)])
def test_timeout(value: str | float, expected: float) -> None:
    assert policy.parse_timeout(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "", "1e999", None, True, False])
def test_bad_timeout(value: str) -> None:
    with pytest.raises(OptionValueError, match="invalid timeout"):
        policy.parse_timeout(value)


@pytest.mark.parametrize("value", ["nginx", "/usr/sbin/nginx", "/etc/nginx", "relative/dir"])
def test_path(value: str) -> None:
    assert policy.parse_path(value, "--ctl") == value


@pytest.mark.parametrize("value", [None, True, False, 0, "", "  ", ["nginx"]])
def test_bad_path(value: object) -> None:
    with pytest.raises(OptionValueError, match=r"invalid value .* for --ctl: give a path"):
        policy.parse_path(value, "--ctl")


@pytest.mark.parametrize(("value", "expected"), [
    ("0", 0), ("2", 2), (" 3 ", 3), ("3600", 3600), (2, 2),
    (0.25, 0.25),  # a number set in code, as stock
])
def test_sleep_seconds(value: str | float, expected: float) -> None:
    assert policy.parse_sleep_seconds(value) == expected
    assert type(policy.parse_sleep_seconds(value)) is type(expected)


@pytest.mark.parametrize("value", ["-1", "0.5", "abc", "nan", "inf", "", None, True, False,
                                   -3, -0.5, float("nan"), float("inf"), [1], "3601",
                                   "100000000000000000000"])
def test_bad_sleep_seconds(value: str) -> None:
    """Whole seconds as stock; a negative one crashed time.sleep mid-challenge."""
    with pytest.raises(OptionValueError, match=r"invalid sleep-seconds .*: give a whole "
                                                r"number of seconds from 0 to 3600"):
        policy.parse_sleep_seconds(value)


@pytest.mark.parametrize("value", [None, True, 3, ["A", 1]])
def test_name_lists_refuse_non_strings(value: object) -> None:
    """Certbot eval()s None/True/False from a renewal file instead of calling our type."""
    with pytest.raises(OptionValueError, match="invalid value"):
        policy.parse_keep_env(value)  # type: ignore[arg-type]
    with pytest.raises(OptionValueError, match="invalid value"):
        policy.parse_drop_env(value)  # type: ignore[arg-type]


def test_errors_are_both_argparse_and_value_errors() -> None:
    """argparse prints an ArgumentTypeError's text; Certbot's renewal skips on ValueError."""
    import argparse
    with pytest.raises(argparse.ArgumentTypeError):
        policy.parse_timeout("x")
    with pytest.raises(ValueError, match="invalid timeout"):
        policy.parse_timeout("x")


def test_drops_matches_exact_and_prefix() -> None:
    p = EnvPolicy(drop=("HOME", "MY_*"))
    assert [p.drops(n) for n in ("HOME", "HOMEX", "MY_", "MY_A", "MYA")] == \
        [True, False, True, True, False]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--cleanenv-nginx-env-policy", "bogus", "unknown environment policy 'bogus'"),
    ("--cleanenv-nginx-keep-env", "FOO=BAR", "invalid variable name 'FOO=BAR'"),
    ("--cleanenv-nginx-drop-env", "A B", "invalid variable name 'A B'"),
    ("--cleanenv-nginx-timeout", "-5", "invalid timeout '-5'"),
    ("--cleanenv-nginx-timeout", "soon", "invalid timeout 'soon'"),
])
def test_bad_option_is_a_usage_error(parse_config: ParseConfig, capsys: pytest.CaptureFixture[str],
                                     option: str, value: str, message: str) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_config(option, value)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert f"{option}: {message}" in err
    assert "Traceback" not in err


def saved_values(config: configuration.NamespaceConfig) -> dict[str, Any]:
    """What Certbot's writer keeps for renewal (its signature changed in Certbot 2.3)."""
    try:
        return storage.relevant_values(config)
    except AttributeError:  # Certbot < 2.3 takes the namespace's dict
        return storage.relevant_values(vars(config.namespace))  # type: ignore[arg-type]


def write_renewal_conf(path: Path, archive: Path, target: dict[str, str],
                       config: configuration.NamespaceConfig) -> None:
    """Write a renewal conf with Certbot's own writer, whichever this Certbot has."""
    if hasattr(storage, "create_renewal_config_file"):
        storage.create_renewal_config_file(str(path), str(archive), target, config)
    else:  # Certbot < 2.3
        storage.write_renewal_config(  # type: ignore[attr-defined]
            str(path), str(path), str(archive), target, saved_values(config))


ALL_OPTIONS: dict[str, tuple[str, Any]] = {
    # option: (command-line value, value read back through conf())
    "env-policy": ("minimal", "minimal"),
    "keep-env": ("HOME,LANG", ("HOME", "LANG")),
    "drop-env": ("MY_*", ("MY_*",)),
    "timeout": ("12.5", 12.5),
    "server-root": ("/srv/nginx", "/srv/nginx"),
    "ctl": ("/opt/nginx/sbin/nginx", "/opt/nginx/sbin/nginx"),
    "sleep-seconds": ("2", 2),
}


@pytest.mark.parametrize("keep", ["HOME,LANG", "HOME"], ids=["list", "one-item"])
def test_renewal_round_trip_every_option(parse_config: ParseConfig, tmp_path: Path,
                                         keep: str) -> None:
    """Options given once are stored by Certbot's own writer and restored with their types."""
    options = {**ALL_OPTIONS, "keep-env": (keep, tuple(keep.split(",")))}
    args = [a for name, (cli, _) in options.items() for a in (f"--cleanenv-nginx-{name}", cli)]
    issued = parse_config("certonly", "-a", "cleanenv-nginx", "-i", "cleanenv-nginx", *args)
    path = tmp_path / "example.test.conf"
    write_renewal_conf(path, tmp_path / "archive",
                       {kind: str(tmp_path / f"{kind}.pem") for kind in storage.ALL_FOUR}, issued)

    params = configobj.ConfigObj(str(path), encoding="utf-8")["renewalparams"]
    assert {k for k in params if k.startswith("cleanenv_nginx_")} == \
        {f"cleanenv_nginx_{name.replace('-', '_')}" for name in options}
    renewing = parse_config("renew")
    renewal._restore_plugin_configs(renewing, params)
    for name, (_, expected) in options.items():
        restored = getattr(renewing, f"cleanenv_nginx_{name.replace('-', '_')}")
        assert restored == expected, name
        assert type(restored) is type(expected), name
    assert policy.policy_from_config(
        lambda var: getattr(renewing, f"cleanenv_nginx_{var.replace('-', '_')}")) == \
        EnvPolicy(mode="minimal", keep=options["keep-env"][1], drop=("MY_*",))


def test_defaults_are_not_stored(parse_config: ParseConfig, tmp_path: Path) -> None:
    issued = parse_config("certonly", "-a", "cleanenv-nginx", "-i", "cleanenv-nginx")
    assert not [k for k in saved_values(issued) if k.startswith("cleanenv_nginx_")]


@pytest.mark.parametrize(("line", "message"), [
    ("cleanenv_nginx_env_policy = strict", "unknown environment policy"),
    ("cleanenv_nginx_timeout = soon", "invalid timeout"),
    ("cleanenv_nginx_sleep_seconds = -1", "invalid sleep-seconds"),
    ("cleanenv_nginx_keep_env = HOME, A=B", "invalid variable name"),
])
def test_garbage_in_renewal_conf_is_a_value_error(parse_config: ParseConfig, tmp_path: Path,
                                                  line: str, message: str) -> None:
    """Certbot's renewal catches ValueError and skips the lineage, printing our message."""
    path = tmp_path / "bad.conf"
    path.write_text("[renewalparams]\nauthenticator = cleanenv-nginx\n"
                    f"installer = cleanenv-nginx\n{line}\n")
    params = configobj.ConfigObj(str(path), encoding="utf-8")["renewalparams"]
    with pytest.raises(ValueError, match=message):
        renewal._restore_plugin_configs(parse_config("renew"), params)
