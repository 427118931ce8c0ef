"""The environment policy, rule by rule (pure: plain dicts in, plain dicts out)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from certbot_cleanenv.environ import (
    SYSTEM_PATH,
    Change,
    ChildEnv,
    build_child_env,
    filter_path_list,
    is_inside_snap,
    is_safe_tz,
)
from certbot_cleanenv.policy import EnvPolicy, Mode

SNAP = "/snap/certbot/4412"
SCRUB = EnvPolicy()
MINIMAL = EnvPolicy(mode="minimal")


def no_symlinks(path: str) -> str:
    """A resolver for a filesystem without symlinks: keeps tests independent of the host."""
    return path


def scrub(parent: dict[str, str], policy: EnvPolicy = SCRUB) -> ChildEnv:
    return build_child_env(parent, policy, resolve=no_symlinks)


# One row per name rule: the variable is removed whatever its value.
@pytest.mark.parametrize("name", [
    "OPENSSL_MODULES", "OPENSSL_FORCE_FIPS_MODE", "OPENSSL_ENGINES",
    "CRYPTOGRAPHY_OPENSSL_NO_LEGACY", "AUGEAS_LENS_LIB", "SNAP", "SNAP_NAME", "SNAP_REVISION",
    "SNAP_ARCH", "SNAP_DATA", "SNAP_SAVED_LD_PRELOAD", "CERTBOT_SNAPPED", "CERTBOT_PLUGIN_PATH",
    "CERTBOT_VALIDATION", "CERTBOT_DOMAIN", "RENEWED_LINEAGE", "RENEWED_DOMAINS", "PYTHONPATH",
    "PYTHONHOME", "PYTHONUNBUFFERED", "NGINX", "NGINX_BPF_MAPS", "NOTIFY_SOCKET", "LISTEN_FDS",
    "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC", "INVOCATION_ID",
    "SYSTEMD_EXEC_PID", "MAINPID", "MANAGERPID", "BASH_FUNC_f%%", "JOURNAL_STREAM",
    "LISTEN_PIDFDID", "WATCHDOG_X", "TRIGGER_UNIT", "TRIGGER_TIMER_REALTIME_USEC",
    "MONITOR_SERVICE_RESULT", "CREDENTIALS_DIRECTORY", "MEMORY_PRESSURE_WATCH",
])
def test_scrub_removes_by_name(name: str) -> None:
    child = scrub({"PATH": "/usr/bin", name: "harmless-value"})
    assert child.env == {"PATH": "/usr/bin"}
    assert [c.name for c in child.changes] == [name]


@pytest.mark.parametrize(("name", "value"), [
    ("HOME", "/root"), ("LANG", "C.UTF-8"), ("SNAPSHOT_DIR", "/var/snapshots"),
    ("TZ", ":Europe/Paris"), ("DISPLAY", ":0"), ("LS_COLORS", "rs=0:di=01;34"),
    ("http_proxy", "http://proxy:3128"), ("OPENSSL_CONF", "/etc/ssl/openssl.cnf"),
    ("MY_DIR", "/opt/snap/certbot/x"), ("EMPTY", ""), ("CERTBOT", "not a prefix match"),
    ("HTTP_PROXY", "http://snap:3128"), ("MOUNT_DIR", "/snap"),
], ids=lambda v: v if len(v) < 20 else v[:20])
def test_scrub_keeps_host_values(name: str, value: str) -> None:
    child = scrub({"PATH": "/usr/bin", name: value})
    assert child.env == {"PATH": "/usr/bin", name: value}
    assert child.changes == ()


def test_exported_function_by_value() -> None:
    child = scrub({"PATH": "/usr/bin", "f": "() {  echo pwned; }"})
    assert child.env == {"PATH": "/usr/bin"}
    assert child.changes[0].reason == "exported shell function"


@pytest.mark.parametrize(("path", "inside"), [
    (f"{SNAP}/usr/lib/x86_64-linux-gnu/ossl-modules", True),
    ("/var/lib/snapd/snap/certbot/4412/usr/lib", True),
    ("/snap/certbot/current/usr/lib", True),
    ("/snap/core24/current/usr/lib/x86_64-linux-gnu", True),
    ("//snap/certbot/1/bin", True),
    ("/usr/../snap/certbot/1/bin", True),
    ("/snap/bin", True),
    ("/snap", False),  # the mount directory, not a snap
    ("//snap", False),
    ("/opt/snap/certbot/x", False),
    ("/snapshots/certbot", False),
    ("/var/lib/snapd/lib/gl", False),
    ("/home/u/snap/certbot/1", False),
    ("snap/certbot/1", False),
    ("", False),
])
def test_is_inside_snap_by_component(path: str, inside: bool) -> None:
    assert is_inside_snap(path, no_symlinks) is inside


def test_is_inside_snap_after_resolving_symlinks(tmp_path: Path) -> None:
    link = tmp_path / "certbot-lib"
    link.symlink_to(f"{SNAP}/usr/lib")  # dangling here: realpath still follows it
    assert is_inside_snap(str(link / "x86_64-linux-gnu"))
    assert not is_inside_snap(str(link), no_symlinks)
    child = build_child_env({"PATH": "/usr/bin", "LD_LIBRARY_PATH": f"/usr/lib:{link}"}, SCRUB)
    assert child.env["LD_LIBRARY_PATH"] == "/usr/lib"


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("PATH", f"{SNAP}/bin:{SNAP}/usr/bin:/usr/sbin:/usr/bin", "/usr/sbin:/usr/bin"),
    ("PATH", "/var/lib/snapd/snap/certbot/4412/bin:/usr/bin", "/usr/bin"),
    ("PATH", "/snap/certbot/current/bin:/snap/bin:/usr/bin", "/usr/bin"),
    ("PATH", "::/usr/bin:rel:./x:", "/usr/bin"),
    ("PATH", "/usr/bin:/bin:/usr/bin:/bin", "/usr/bin:/bin"),
    ("PATH", "/usr/bin:/usr/bin/:/usr//bin:/usr/sbin/", "/usr/bin:/usr/sbin/"),
    ("PATH", "/opt/snap/certbot/x:/usr/bin", "/opt/snap/certbot/x:/usr/bin"),
    ("LD_LIBRARY_PATH", f"/usr/local/lib:{SNAP}/usr/lib:/opt/lib", "/usr/local/lib:/opt/lib"),
    ("LD_LIBRARY_PATH", "/snap/certbot/current/lib:/usr/lib", "/usr/lib"),
    ("LD_PRELOAD", f"{SNAP}/lib/a.so /usr/lib/b.so", "/usr/lib/b.so"),
    ("MANPATH", "/snap/core24/current/usr/share/man:/usr/share/man", "/usr/share/man"),
    ("MY_PLUGIN_DIRS", f"/opt/a:{SNAP}/b:/opt/c", "/opt/a:/opt/c"),
])
def test_path_lists_filtered_in_order(name: str, value: str, expected: str) -> None:
    env = {"PATH": "/usr/bin", name: value}
    child = scrub(env)
    assert child.env[name] == expected
    assert [c.name for c in child.changes] == ([name] if expected != value else [])


@pytest.mark.parametrize("name", ["LD_LIBRARY_PATH", "LD_PRELOAD", "XDG_DATA_DIRS"])
def test_path_list_left_empty_is_unset(name: str) -> None:
    child = scrub({"PATH": "/usr/bin", name: f"{SNAP}/usr/lib:"})
    assert name not in child.env
    assert child.changes[0].name == name
    assert child.changes[0].reason.startswith("path list left empty")


@pytest.mark.parametrize(("name", "value"), [
    ("OPENSSL_CONF", f"{SNAP}/usr/lib/ssl/openssl.cnf"),
    ("SSL_CERT_FILE", "/snap/certbot/current/etc/ssl/certs/ca-certificates.crt"),
    ("GIT_EXEC_PATH", "/var/lib/snapd/snap/core24/1/usr/lib/git-core"),
    ("TZ", ":/snap/core24/current/usr/share/zoneinfo/UTC"),
    ("LESSOPEN", "| /snap/certbot/1/bin/lesspipe %s"),
    ("JAVA_OPTS", "-Xmx1g -Dlib=/snap/certbot/1/lib"),
    ("CSV_DIRS", "/opt/a,/snap/core24/current/b"),
    ("APP_OPTS", '--conf="/snap/certbot/1/etc/app.conf"'),
    ("APP_OPTS2", "--conf='/snap/certbot/1/etc/app.conf'"),
])
def test_other_values_pointing_into_a_snap_are_removed(name: str, value: str) -> None:
    child = scrub({"PATH": "/usr/bin", name: value})
    assert child.env == {"PATH": "/usr/bin"}
    assert child.changes[0].reason == "value points inside a snap"


@pytest.mark.parametrize("parent", [{}, {"PATH": ""}, {"PATH": f"{SNAP}/bin:relative"}],
                         ids=["absent", "empty", "nothing-left"])
def test_path_never_empty_or_missing(parent: dict[str, str]) -> None:
    for policy in (SCRUB, MINIMAL):
        child = scrub(parent, policy)
        assert child.env["PATH"] == SYSTEM_PATH
        search = os.get_exec_path(child.env)
        assert search
        assert all(d.startswith("/") for d in search)
        assert "/usr/sbin" in search
        assert [c.name for c in child.changes] == ["PATH"]


def test_snap_environment_as_certbot_sees_it() -> None:
    parent = {
        "PATH": f"{SNAP}/bin:{SNAP}/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
        "LD_LIBRARY_PATH": f"{SNAP}/usr/lib/x86_64-linux-gnu",
        "OPENSSL_MODULES": f"{SNAP}/usr/lib/x86_64-linux-gnu/ossl-modules",
        "OPENSSL_FORCE_FIPS_MODE": "0", "AUGEAS_LENS_LIB": f"{SNAP}/usr/share/augeas/lenses/dist",
        "SNAP": SNAP, "SNAP_NAME": "certbot", "SNAP_REVISION": "4412", "SNAP_ARCH": "amd64",
        "CERTBOT_SNAPPED": "True", "CERTBOT_AUGEAS_PATH": f"{SNAP}/usr/lib/libaugeas.so.0",
        "HOME": "/root", "LANG": "C.UTF-8", "TERM": "xterm",
    }
    child = scrub(parent)
    assert child.env == {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
                         "HOME": "/root", "LANG": "C.UTF-8", "TERM": "xterm"}
    assert sorted(child.removed) == sorted(set(parent) - set(child.env))
    assert child.changes[0].name == "PATH"
    assert list(child.env) == ["PATH", "HOME", "LANG", "TERM"]


# minimal: sudo's env_reset/env_check and systemd's curated list
@pytest.mark.parametrize(("name", "value", "kept"), [
    ("LANG", "C.UTF-8", True), ("LANGUAGE", "en_US:en", True), ("LC_ALL", "C", True),
    ("LC_ALL", "../x", False), ("LANG", "%n", False), ("LC_CTYPE", "/etc/passwd", False),
    ("TZ", ":Europe/Paris", True), ("TZ", "UTC", True),
    ("TZ", "/usr/share/zoneinfo/UTC", True), ("TZ", "/etc/passwd", False),
    ("TZ", "../x", False), ("TZ", "a b", False), ("TZ", ":/etc/localtime", False),
    ("TZ", "Europe/../../etc/passwd", False),
    ("HOME", "/root", False), ("OPENSSL_CONF", "/etc/ssl/openssl.cnf", False),
    ("TERM", "xterm", False),
])
def test_minimal_allow_list(name: str, value: str, kept: bool) -> None:
    child = scrub({"PATH": "/usr/bin", name: value}, MINIMAL)
    assert (name in child.env) is kept
    assert child.env["PATH"] == "/usr/bin"


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("LC_ALL", "../x", "locale value holds '/' or '%'"),
    ("LANG", "%n", "locale value holds '/' or '%'"),
    ("TZ", "/etc/passwd", "TZ is not a zone name or a zoneinfo file"),
    ("HOME", "/root", "not on the minimal allow-list"),
])
def test_minimal_says_why(name: str, value: str, reason: str) -> None:
    assert scrub({"PATH": "/usr/bin", name: value}, MINIMAL).changes == (Change(name, reason),)


def test_tz_length_limit() -> None:
    assert not is_safe_tz("A" * 4096)
    assert is_safe_tz("A" * 100)


def test_minimal_keep_list_and_sanitised_path() -> None:
    policy = EnvPolicy(mode="minimal", keep=("HOME", "ABSENT"))
    child = scrub({"PATH": f"{SNAP}/bin:/usr/bin", "HOME": "/root", "USER": "root"}, policy)
    assert child.env == {"PATH": "/usr/bin", "HOME": "/root"}
    assert sorted(child.removed) == ["USER"]


def test_keep_overrides_every_rule_and_flags_snap_values() -> None:
    parent = {"PATH": "/usr/bin", "OPENSSL_MODULES": f"{SNAP}/ossl", "SNAP_NAME": "certbot",
              "LD_LIBRARY_PATH": f"{SNAP}/lib::rel"}
    policy = EnvPolicy(keep=("OPENSSL_MODULES", "SNAP_NAME", "LD_LIBRARY_PATH"),
                       drop=("SNAP_*",))
    child = scrub(parent, policy)
    assert child.env == parent
    assert child.kept_in_snap == ("OPENSSL_MODULES", "LD_LIBRARY_PATH")
    assert child.changes == ()


@pytest.mark.parametrize(("mode", "drop", "expected"), [
    ("scrub", ("HOME",), {"PATH": "/usr/bin", "MY_A": "1", "MY_B": "2", "LANG": "C"}),
    ("scrub", ("MY_*",), {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C"}),
    ("scrub", ("NOT_SET",),
     {"PATH": "/usr/bin", "HOME": "/root", "MY_A": "1", "MY_B": "2", "LANG": "C"}),
    ("scrub", ("PATH", "MY_*"), {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C"}),
    ("minimal", ("LANG",), {"PATH": "/usr/bin"}),
    ("minimal", ("P*",), {"PATH": SYSTEM_PATH, "LANG": "C"}),
])
def test_drop_list(mode: Mode, drop: tuple[str, ...], expected: dict[str, str]) -> None:
    parent = {"PATH": "/usr/bin", "HOME": "/root", "MY_A": "1", "MY_B": "2", "LANG": "C"}
    assert scrub(parent, EnvPolicy(mode=mode, drop=drop)).env == expected


def test_keep_beats_drop_prefix() -> None:
    child = scrub({"PATH": "/usr/bin", "MY_A": "1", "MY_B": "2"},
                  EnvPolicy(keep=("MY_A",), drop=("MY_*",)))
    assert child.env == {"PATH": "/usr/bin", "MY_A": "1"}


def test_off_is_an_unchanged_copy() -> None:
    parent = {"SNAP": SNAP, "PATH": "", "OPENSSL_MODULES": f"{SNAP}/x"}
    child = scrub(parent, EnvPolicy(mode="off", drop=("SNAP",)))
    assert child.env == parent
    assert child.env is not parent
    assert child.changes == ()


@pytest.mark.parametrize("policy", [SCRUB, MINIMAL, EnvPolicy(keep=("SNAP",), drop=("HOME",))],
                         ids=["scrub", "minimal", "keep-drop"])
def test_pure_and_idempotent(policy: EnvPolicy) -> None:
    parent = {"PATH": f"{SNAP}/bin::/usr/bin:/usr/bin", "SNAP": SNAP, "HOME": "/root",
              "LD_LIBRARY_PATH": f"/opt/lib:{SNAP}/lib", "LANG": "C.UTF-8", "TZ": "../x"}
    before = dict(parent)
    environ_before = dict(os.environ)
    once = build_child_env(parent, policy)
    assert parent == before
    assert dict(os.environ) == environ_before
    assert build_child_env(once.env, policy).env == once.env


def test_summary_names_never_values() -> None:
    secret = "s3cr3t-token-value"  # noqa: S105 - a value that must never be logged
    child = scrub({"PATH": f"{SNAP}/bin:/usr/bin", "CERTBOT_VALIDATION": secret,
                   "API_KEY_FILE": f"{SNAP}/{secret}"})
    text = child.summary() + repr(child.changes)
    assert "CERTBOT_VALIDATION" in text
    assert "API_KEY_FILE" in text
    assert secret not in text
    assert SNAP not in text


def test_filter_path_list_reports_counts() -> None:
    value, reason = filter_path_list(f"{SNAP}/bin::rel:/usr/bin:/usr/bin", no_symlinks)
    assert value == "/usr/bin"
    assert reason == "dropped entries: 1 inside a snap, 2 empty or relative, 1 repeated"
    assert filter_path_list("/usr/bin:/bin", no_symlinks) == ("/usr/bin:/bin", "")


def test_dropped_path_reported_once_with_fallback() -> None:
    child = scrub({"PATH": f"{SNAP}/bin", "HOME": "/root"})
    assert child.env == {"PATH": SYSTEM_PATH, "HOME": "/root"}
    assert [c.name for c in child.changes] == ["PATH"]
    assert "inside a snap" in child.changes[0].reason
    assert SYSTEM_PATH in child.changes[0].reason
    dropped = scrub({"PATH": "/usr/bin"}, EnvPolicy(drop=("PATH",)))
    assert [c.name for c in dropped.changes] == ["PATH"]
    assert "drop-env" in dropped.changes[0].reason


def test_undecodable_names_are_escaped_in_summary() -> None:
    name = b"SNAP_\xff".decode("utf-8", "surrogateescape")
    child = scrub({"PATH": "/usr/bin", name: "1"})
    assert name not in child.env
    assert "SNAP_\\udcff" in child.summary()
    child.summary().encode("utf-8")  # no lone surrogates left for a log handler to choke on


def test_ld_preload_blank_separated_is_normalised_not_reported() -> None:
    child = scrub({"PATH": "/usr/bin", "LD_PRELOAD": " /usr/lib/b.so  /usr/lib/c.so "})
    assert child.env["LD_PRELOAD"] == "/usr/lib/b.so:/usr/lib/c.so"
    assert child.changes == ()
