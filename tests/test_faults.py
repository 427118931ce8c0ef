"""Fault injection: real Certbot, Pebble and nginx driven through every fault we promise to survive.

For each fault: Certbot ends with a clear error (never a traceback, never a hang), the
nginx configuration tree is byte-identical afterwards, nginx serves what it served
before, nothing the fault spawned is left running, and no planted secret appears in
any output or file. Each run adds a row to the table printed at the end of the session.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures import faults
from tests.fixtures.certbot import Certbot
from tests.fixtures.net import served_certificate
from tests.fixtures.nginx import NginxSite

pytestmark = pytest.mark.e2e
MakeSite = Callable[..., NginxSite]

#: Planted in Certbot's environment: one our policy keeps, one it removes by name.
SECRETS = {"DB_PASSWORD": "kept-s3cr3t-Vq81", "CERTBOT_API_TOKEN": "removed-s3cr3t-Zx42"}
BOUND = 60.0  # seconds: every fault must end Certbot well within this
TIMEOUT = "2"  # --cleanenv-nginx-timeout where a child hangs


@dataclass(frozen=True)
class Fault:
    """One fault: how to cause it and the words the user must see."""

    name: str
    says: str  # regex, searched in Certbot's output
    ctl: dict[str, str] = field(default_factory=dict)  # scripted ctl faults, if any
    args: tuple[str, ...] = ()
    running: bool = True  # whether nginx runs before Certbot does
    #: "missing", "not-executable", "directory", "read-only", "disk-full", "leaky-master"
    setup: str = ""
    daemon_off: bool = False


FAULTS = [
    Fault("ctl missing", r"nginx binary \S+ is not an executable file", setup="missing"),
    Fault("ctl not executable", r"nginx binary \S+ is not an executable file",
          setup="not-executable"),
    Fault("ctl is a directory", r"nginx binary \S+ is not an executable file",
          setup="directory"),
    Fault("nginx -t fails", r"scripted failure of test", ctl={"test": "fail"}),
    Fault("reload and start fail", r"nginx restart failed: .*\(exit status 1\)",
          ctl={"reload": "fail", "start": "fail"}),
    Fault("reload fails after deploy", r"unable to install your certificate",
          ctl={"reload#3": "fail", "start#1": "fail"}),
    Fault("reload hangs", rf"-s reload did not finish within {TIMEOUT} s",
          ctl={"reload": "hang"}, args=("--cleanenv-nginx-timeout", TIMEOUT)),
    Fault("nginx -t hangs", rf"-t did not finish within {TIMEOUT} s",
          ctl={"test": "hang"}, args=("--cleanenv-nginx-timeout", TIMEOUT)),
    Fault("reload killed by a signal",
          r"reload was ended by a signal \(killed by SIGSEGV\): .* did not start",
          ctl={"reload": "crash", "start": "crash"}),
    Fault("server root read-only", r"Unable to lock|Read-only file system", setup="read-only"),
    Fault("disk full when Certbot saves", r"Could not write \S+ in full", setup="disk-full"),
    Fault("master rejects the reload (snap env)",
          r"nginx rejected the new configuration and still serves the old one: .*\[emerg\]"
          r".*restart nginx through its service manager", setup="leaky-master"),
    Fault("not running, --start never", r"Certbot did not start nginx", running=False,
          args=("--cleanenv-nginx-start", "never")),
    Fault("not running, daemon off, --start direct", r"says 'daemon off;'", running=False,
          args=("--cleanenv-nginx-start", "direct"), daemon_off=True),
]


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted in the test's tmp dir, unmounted afterwards."""
    mount = tmp_path / "site"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> None:
    """Write a file in ``directory`` until its file system is full."""
    with (directory / "filler").open("wb", buffering=0) as filler:
        with contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 4096)
        with contextlib.suppress(OSError):
            while True:
                filler.write(b"\0")


def pad_to_page_end(conf: Path) -> None:
    """Pad nginx.conf with a comment to just under a page, so any growth needs a new page."""
    size = len(conf.read_bytes())
    pages = size // 4096 + 1
    conf.write_text(conf.read_text() + "#" + "x" * (pages * 4096 - size - 10) + "\n")


def certbot_output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def find_secret_leaks(result: subprocess.CompletedProcess[str], *roots: Path) -> list[str]:
    """Where a planted secret value shows: Certbot's output, or any file under ``roots``."""
    leaks = [f"output:{name}" for name, value in SECRETS.items()
             if value in certbot_output(result)]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                leaks += [f"{path}:{name}" for name, value in SECRETS.items()
                          if value.encode() in data]
    return leaks


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_fault_leaves_everything_as_it_was(
        fault: Fault, certbot: Certbot, site_factory: MakeSite, nginx_bin: str,
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    root = request.getfixturevalue("tiny_fs") if fault.setup == "disk-full" else None
    leaky = fault.setup == "leaky-master"
    site = site_factory("site", http_port=certbot.pebble.http_port, legacy_key=leaky)
    if root is not None:  # stop nginx before its file system goes
        request.addfinalizer(site.stop)
    if fault.daemon_off:
        site.conf.write_text("daemon off;\n" + site.conf.read_text())
    if leaky:  # started by an earlier snapped Certbot; the config changed since
        site.conf.write_text(site.start_leaky_master())
    elif fault.running:
        site.start()
    if root is not None:
        pad_to_page_end(site.conf)
        fill(site.root / "www")
    ctl_dir = tmp_path / "ctl"
    ctl_dir.mkdir()
    ctl: Path | None = None
    args = list(fault.args)
    if fault.ctl:
        ctl = faults.scripted_ctl(ctl_dir, nginx_bin, fault.ctl)
    elif fault.setup == "missing":
        ctl = ctl_dir / "no-such-nginx"
    elif fault.setup == "not-executable":
        ctl = ctl_dir / "nginx"
        ctl.write_text("#!/bin/sh\nexit 0\n")
    elif fault.setup == "directory":
        ctl = ctl_dir
    if ctl is not None:
        args += ["--cleanenv-nginx-ctl", str(ctl)]
    if fault.setup == "read-only":
        certbot.wrap = faults.in_private_mounts(
            f'mount --bind "{site.root}" "{site.root}"\n'
            f'mount -o remount,ro,bind "{site.root}" "{site.root}"')
    served = served_certificate(site.https_port, site.domain).serial_number \
        if fault.running else None
    before, sizes = faults.tree_digest(site.root), faults.tree_sizes(site.root)
    env = {**site.base_env(), "HOME": str(tmp_path), **SECRETS}

    started = time.monotonic()
    result = certbot.issue(site, env, "cleanenv-nginx", *args, timeout=BOUND)
    seconds = time.monotonic() - started

    output = certbot_output(result)
    changed = faults.changed_bytes(before, site.root, sizes)
    left = faults.processes_mentioning(str(ctl_dir))
    said = re.search(fault.says, output)
    leaks = find_secret_leaks(result, certbot.state, site.root)
    faults.TABLE.append(faults.Row(
        fault.name,
        said.group(0).replace(str(tmp_path), "<tmp>") if said else
        f"rc={result.returncode}, words missing",
        seconds, changed, len(left), len(leaks)))

    assert result.returncode != 0, output
    assert said, output
    assert "Traceback" not in result.stderr
    assert changed == 0, "the nginx configuration changed"
    assert left == [], "processes the fault spawned are still running"
    assert leaks == []
    if fault.ctl:  # a hung child is waited for once; the rollback does not hang again
        counts = faults.scripted_counts(ctl) if ctl else {}
        assert all(counts.get(op, 0) <= 1 for op, how in fault.ctl.items() if how == "hang")
    if served is not None:
        assert served_certificate(site.https_port, site.domain).serial_number == served
    else:
        assert site.master_pid() is None


def test_secrets_stay_secret_at_vvv(certbot: Certbot, site_factory: MakeSite, nginx_bin: str,
                                    tmp_path: Path) -> None:
    """-vvv logs every child and what it removed; the planted values show nowhere."""
    site = site_factory("site", http_port=certbot.pebble.http_port)
    site.start()
    env = {**site.base_env(), "HOME": str(tmp_path), **SECRETS}
    issued = certbot.issue(site, env, "cleanenv-nginx", "-vvv")
    assert issued.returncode == 0, certbot_output(issued)
    ctl = faults.scripted_ctl(tmp_path, nginx_bin, {"reload": "hang"})
    failed = certbot.renew(env, "-vvv", "--cleanenv-nginx-ctl", str(ctl),
                           "--cleanenv-nginx-timeout", TIMEOUT, timeout=BOUND)
    assert failed.returncode != 0
    for result in (issued, failed):
        assert "CERTBOT_API_TOKEN" in certbot_output(result)  # named as removed ...
        assert find_secret_leaks(result, certbot.state, site.root) == []  # ... never shown


@pytest.mark.parametrize(("hung", "how", "tree", "status"), [
    ("reload#1", "hang", False, -signal.SIGTERM), ("reload#3", "hang", False, 1),
    ("reload#1", "hang", True, None), ("reload#3", "hang", True, None),  # a race: who first
    ("reload#3", "hang-trap", True, None),
], ids=["challenge", "deploy", "challenge, child too", "deploy, child too",
        "deploy, child too, trapped"])
def test_sigterm_during_a_hung_reload_ends_certbot_and_its_children(
        hung: str, how: str, tree: bool, status: int | None, certbot: Certbot,
        site_factory: MakeSite, nginx_bin: str, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    """``kill <certbot>`` (cron, a shutdown) while nginx hangs, in the challenge or deploy step.

    In the challenge step Certbot's handler raises: our runner kills the child's group,
    Certbot cleans up and dies of the signal. By the deploy step a handler Certbot left
    installed (its ErrorHandler does not restore the old one on a normal exit) only
    records the signal: Certbot goes on, as it does with the stock plugin, and the reload
    runs to its time limit. Either way the child must not be taken for "nginx is not
    running" (a second nginx started during shutdown), and nothing may be left behind.
    "Child too" signals the hung command as well (as a stop of Certbot's service may), but
    not what it started: that must go with it. "Trapped": the command turns the signal
    into exit status 143, as a shell wrapper's trap does.
    """
    site = site_factory("site", http_port=certbot.pebble.http_port)
    site.start()
    env = {**site.base_env(), "HOME": str(tmp_path)}
    assert certbot.issue(site, env, "cleanenv-nginx").returncode == 0
    served = served_certificate(site.https_port, site.domain).serial_number
    before, sizes = faults.tree_digest(site.root), faults.tree_sizes(site.root)
    (tmp_path / "ctl").mkdir()
    ctl = faults.scripted_ctl(tmp_path / "ctl", nginx_bin, {hung: how})

    def kill_leftovers() -> None:  # after a failure: no sleeper outlives the test
        for pid in faults.processes_mentioning(str(tmp_path / "ctl")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    request.addfinalizer(kill_leftovers)
    count = int(hung.partition("#")[2])
    renew = certbot.start("renew", "--force-renewal", "--no-random-sleep-on-renew",
                          "--no-verify-ssl", "--cleanenv-nginx-ctl", str(ctl),
                          "--cleanenv-nginx-timeout", TIMEOUT, "-v", env=env)
    with contextlib.ExitStack() as stack:
        stack.callback(renew.kill)
        deadline = time.monotonic() + BOUND
        while faults.scripted_counts(ctl).get("reload", 0) < count:
            assert renew.poll() is None, renew.communicate()
            assert time.monotonic() < deadline, "the hanging reload never came"
            time.sleep(0.05)
        time.sleep(0.5)  # the scripted ctl is in its hang
        for pid in faults.processes_mentioning(str(tmp_path / "ctl")) if tree else []:
            if "time.sleep(3600)" not in Path(f"/proc/{pid}/cmdline").read_text():
                os.kill(pid, signal.SIGTERM)  # the hung command, not its grandchild
        renew.send_signal(signal.SIGTERM)
        out, err = renew.communicate(timeout=BOUND)
    if status is None:
        assert renew.returncode != 0, out + err
    else:
        assert renew.returncode == status, out + err
    assert "Traceback" not in err
    assert "starting nginx directly" not in out + err
    assert faults.processes_mentioning(str(tmp_path / "ctl")) == []
    assert faults.changed_bytes(before, site.root, sizes) == 0
    assert served_certificate(site.https_port, site.domain).serial_number == served
