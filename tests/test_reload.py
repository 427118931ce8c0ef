"""Knowing when nginx applied a reload: pure logic on a fake /proc, then real nginx.

The fake ``/proc`` trees hold what the kernel shows (``stat``, ``cmdline``, the
``children`` list), so every rule can be driven step by step with a scripted clock;
the real-nginx tests show the same watch agrees with what nginx actually serves.
"""
from __future__ import annotations

import http.client
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from certbot import configuration, errors

from certbot_cleanenv import _compat, reload
from certbot_cleanenv.configurator import CleanEnvConfigurator
from tests.fixtures import faults, net
from tests.fixtures.nginx import NginxSite

MakeConf = Callable[..., CleanEnvConfigurator]
MakeSite = Callable[..., NginxSite]
MASTER = 100


class FakeProc:
    """A ``/proc`` tree with one nginx master and the children we put under it."""

    def __init__(self, root: Path, *, kernel_list: bool = True) -> None:
        self.root = root
        self.kernel_list = kernel_list
        self.procs: dict[int, tuple[int, str, str]] = {}  # pid -> (ppid, state, title)
        (root / "self").mkdir(parents=True)
        self.add(MASTER, "nginx: master process nginx", ppid=1)

    def add(self, pid: int, title: str, ppid: int = MASTER, state: str = "S") -> None:
        self.procs[pid] = (ppid, state, title)
        self._write()

    def retire(self, pid: int) -> None:
        """What nginx does to an old worker: it keeps serving open connections only."""
        ppid, state, title = self.procs[pid]
        self.add(pid, f"{title} is shutting down", ppid, state)

    def remove(self, pid: int) -> None:
        """The process exits (and its parent reaped it)."""
        del self.procs[pid]
        shutil.rmtree(self.root / str(pid))
        self._write()

    def _write(self) -> None:
        for pid, (ppid, state, title) in self.procs.items():
            directory = self.root / str(pid)
            directory.mkdir(exist_ok=True)
            (directory / "stat").write_text(f"{pid} (nginx) {state} {ppid} {pid} 0 0\n")
            (directory / "cmdline").write_bytes(title.replace(" ", "\0").encode() + b"\0")
        if MASTER in self.procs and self.kernel_list:
            task = self.root / str(MASTER) / "task" / str(MASTER)
            task.mkdir(parents=True, exist_ok=True)
            kids = [str(pid) for pid, (ppid, _, _) in self.procs.items() if ppid == MASTER]
            (task / "children").write_text(" ".join(kids) + " ")


class Clock:
    """A scripted monotonic clock: each sleep advances it and may change the world."""

    def __init__(self, on_sleep: Callable[[int], None] = lambda n: None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        self.on_sleep(self.sleeps)


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    fake = FakeProc(tmp_path / "proc")
    fake.add(101, "nginx: worker process")
    fake.add(102, "nginx: worker process")
    fake.add(103, "nginx: cache manager process")
    return fake


@pytest.fixture
def pid_file(tmp_path: Path) -> Path:
    path = tmp_path / "nginx.pid"
    path.write_text(f"{MASTER}\n")
    return path


def watch_of(proc: FakeProc, pid_file: Path, error_log: Path | None = None) -> reload.ReloadWatch:
    return reload.ReloadWatch.before_signal(str(pid_file), str(error_log) if error_log else None,
                                            proc=str(proc.root), settle=0)


# --- pure rules -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "pid"), [
    ("123\n", 123), ("123", 123), ("", None), ("abc\n", None), ("-5\n", None), ("1 2\n", None),
], ids=["newline", "bare", "empty", "word", "negative", "two"])
def test_read_pid(tmp_path: Path, text: str, pid: int | None) -> None:
    path = tmp_path / "nginx.pid"
    path.write_text(text)
    assert reload.read_pid(str(path)) == pid


def test_read_pid_of_a_missing_file(tmp_path: Path) -> None:
    assert reload.read_pid(str(tmp_path / "absent.pid")) is None


@pytest.mark.parametrize("kernel_list", [True, False], ids=["children-list", "scan"])
def test_children_lists_live_children_only(tmp_path: Path, kernel_list: bool) -> None:
    fake = FakeProc(tmp_path / "proc", kernel_list=kernel_list)
    fake.add(101, "nginx: worker process")
    fake.add(102, "nginx: worker process", state="Z")  # a zombie is gone
    fake.add(200, "nginx: worker process", ppid=7)  # another master's worker
    fake.add(201, "bash", ppid=1)
    assert reload.children(MASTER, str(fake.root)) == {101: "nginx: worker process"}


def test_children_of_a_master_that_left(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc", kernel_list=False)
    assert reload.children(4242, str(fake.root)) == {}
    assert reload.children(4242, str(tmp_path / "no-proc")) == {}


OLD = {101, 102}


@pytest.mark.parametrize(("procs", "done"), [
    ({101: "nginx: worker process", 102: "nginx: worker process"}, False),
    ({101: "nginx: worker process", 102: "nginx: worker process",
      111: "nginx: worker process"}, False),
    ({101: "nginx: worker process is shutting down", 102: "nginx: worker process",
      111: "nginx: worker process"}, False),
    ({101: "nginx: worker process is shutting down",
      102: "nginx: worker process is shutting down", 111: "nginx: worker process"}, True),
    ({111: "nginx: worker process", 112: "nginx: worker process"}, True),
    ({101: "nginx: worker process is shutting down", 111: "nginx: worker process"}, True),
    ({101: "nginx: worker process is shutting down"}, False),
    ({}, False),
    ({101: "nginx: worker process is shutting down", 120: "nginx: cache manager process"},
     False),
], ids=["old-only", "new-and-old-serving", "one-old-serving", "old-retiring", "old-exited",
        "mixed-retired", "no-new-generation", "nothing", "cache-manager-is-no-worker"])
def test_applied(procs: dict[int, str], done: bool) -> None:
    assert reload.applied(OLD, procs) is done


def test_problems_since_reads_only_what_came_after(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text("2026/12/04 [emerg] 1#1: an old failure\n")
    offset = reload.log_size(str(log))
    with log.open("a") as more:
        more.write("2026/12/04 [notice] 1#1: signal 1 (SIGHUP) received, reconfiguring\n"
                   "2026/12/04 [emerg] 1#1: bind() to 127.0.0.1:80 failed\n"
                   "2026/12/04 [alert] 1#1: something else\n"
                   "2026/12/04 [error] 1#1: not a reason to give up\n")
    assert reload.problems_since(str(log), offset) == [
        "2026/12/04 [emerg] 1#1: bind() to 127.0.0.1:80 failed",
        "2026/12/04 [alert] 1#1: something else"]
    assert reload.problems_since(None, 0) == []
    assert reload.problems_since(str(tmp_path / "absent.log"), 0) == []
    assert reload.log_size(str(tmp_path / "absent.log")) == 0
    assert reload.log_size(None) == 0


def test_bind_retries_are_no_verdict_until_nginx_gives_up() -> None:
    """nginx retries a bind() on an address in use five times, then says it gave up."""
    failed = "2026/12/04 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in use)"
    gave_up = "2026/12/04 [emerg] 1#1: still could not bind()"
    assert reload.rejection([], 1) is None
    assert reload.rejection([failed], 1) is None
    assert reload.rejection([failed] * 5, 1) is None
    assert reload.rejection([failed] * 5 + [gave_up], 1) == f"{failed} | {gave_up}"


def test_rejection_keeps_the_last_distinct_words() -> None:
    lines = [f"2026/12/04 06:0{n} [emerg] 7#{n}: {text}" for n, text in
             enumerate(["a", "b", "a", "c", "d"])]
    assert reload.rejection(lines, 7) == " | ".join(lines[2:])
    other = "2026/12/04 [emerg] 7#7: bind() to 0.0.0.0:80 failed (13: Permission denied)"
    assert reload.rejection([other], 7) == other  # not retried by nginx: a verdict at once


def test_only_the_master_speaks_for_the_reload() -> None:
    """A worker's [alert] (too few connections, say) is no verdict on the configuration."""
    worker = "2026/12/04 [alert] 2672#2672: 16 worker_connections are not enough"
    master = '2026/12/04 [emerg] 2671#2671: cannot load certificate key "/x/des.key"'
    assert reload.rejection([worker], 2671) is None
    assert reload.rejection([worker, master], 2671) == master
    assert reload.rejection(["[emerg] something without a pid"], 2671) is None


# --- what cannot be watched -----------------------------------------------------------------

def test_no_proc_means_no_watch(tmp_path: Path, pid_file: Path) -> None:
    watch = reload.ReloadWatch.before_signal(str(pid_file), None, proc=str(tmp_path / "none"))
    assert watch.why_not == f"no {tmp_path / 'none'} to observe processes in"
    with pytest.raises(reload.NotAppliedError, match="cannot watch nginx's reload"):
        watch.wait(10)


def test_no_pid_file_means_no_watch(proc: FakeProc, tmp_path: Path) -> None:
    watch = watch_of(proc, tmp_path / "absent.pid")
    assert watch.why_not == f"no nginx pid in {tmp_path / 'absent.pid'}"


def test_master_without_workers_is_waited_for_then_given_up(tmp_path: Path,
                                                            pid_file: Path) -> None:
    fake = FakeProc(tmp_path / "proc")  # master_process off: no workers ever
    started = time.monotonic()
    watch = reload.ReloadWatch.before_signal(str(pid_file), None, proc=str(fake.root),
                                             settle=0.2)
    assert time.monotonic() - started >= 0.2
    assert watch.why_not == f"nginx master {MASTER} has no workers (master_process off?)"


def test_snapshot_records_serving_workers_and_log_end(proc: FakeProc, pid_file: Path,
                                                      tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text("earlier lines\n")
    proc.add(104, "nginx: worker process is shutting down")  # from an earlier reload
    watch = watch_of(proc, pid_file, log)
    assert (watch.master, watch.old, watch.offset, watch.why_not) == \
        (MASTER, OLD, len("earlier lines\n"), "")


# --- waiting --------------------------------------------------------------------------------

def test_wait_returns_once_the_new_generation_serves(proc: FakeProc, pid_file: Path) -> None:
    watch = watch_of(proc, pid_file)

    def nginx_reloads(polls: int) -> None:
        if polls == 3:  # the master forks new workers
            proc.add(111, "nginx: worker process")
            proc.add(112, "nginx: worker process")
        if polls == 5:  # and 100 ms later tells the old ones to finish
            proc.retire(101)
            proc.retire(102)

    clock = Clock(nginx_reloads)
    took = watch.wait(60, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == 5
    assert took == pytest.approx(5 * reload.POLL_SECONDS)


def test_wait_fails_at_once_with_nginx_words(proc: FakeProc, pid_file: Path,
                                             tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text(f"2026/12/04 [emerg] {MASTER}#{MASTER}: from yesterday\n")
    watch = watch_of(proc, pid_file, log)
    words = f'2026/12/04 [emerg] {MASTER}#{MASTER}: cannot load certificate key "/x/des.key"'
    with log.open("a") as more:
        more.write(f"{words}\n")
    clock = Clock()
    with pytest.raises(reload.ReloadRejectedError) as raised:
        watch.wait(60, clock=clock, sleep=clock.sleep)
    assert str(raised.value) == words
    assert clock.sleeps == 0


def test_log_words_do_not_count_once_new_workers_serve(proc: FakeProc, pid_file: Path,
                                                       tmp_path: Path) -> None:
    """An [alert] from elsewhere during a reload that works is not a rejection."""
    log = tmp_path / "error.log"
    log.write_text("")
    watch = watch_of(proc, pid_file, log)
    proc.add(111, "nginx: worker process")
    log.write_text("2026/12/04 [alert] 1#1: worker process 99 exited on signal 9\n")

    def retire(polls: int) -> None:
        proc.remove(101)
        proc.remove(102)

    clock = Clock(retire)
    assert watch.wait(60, clock=clock, sleep=clock.sleep) == pytest.approx(reload.POLL_SECONDS)


def test_wait_is_bounded(proc: FakeProc, pid_file: Path) -> None:
    watch = watch_of(proc, pid_file)
    proc.add(111, "nginx: worker process")  # new workers up, old ones never retire
    clock = Clock()
    with pytest.raises(reload.NotAppliedError,
                       match=r"did not apply the new configuration within 0.5 s "
                             r"\(old workers \[101, 102\] still in service\)"):
        watch.wait(0.5, clock=clock, sleep=clock.sleep)
    assert 0.5 <= clock.now < 0.5 + 2 * reload.POLL_SECONDS


def test_wait_notices_the_master_exiting(proc: FakeProc, pid_file: Path) -> None:
    watch = watch_of(proc, pid_file)
    for pid in (101, 102, 103, MASTER):
        proc.remove(pid)
    clock = Clock()
    with pytest.raises(reload.NotAppliedError, match=f"master {MASTER} exited"):
        watch.wait(60, clock=clock, sleep=clock.sleep)


def test_wait_until_serving_is_bounded(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc")
    clock = Clock()
    with pytest.raises(reload.NotAppliedError,
                       match=r"started but is not serving on 127.0.0.1:9 within 2 s"):
        reload.wait_until_serving(str(tmp_path / "absent.pid"), ("127.0.0.1", 9), 2,
                                  proc=str(fake.root), clock=clock, sleep=clock.sleep)
    assert 2 <= clock.now < 2 + 2 * reload.POLL_SECONDS


def test_wait_until_serving_needs_workers(proc: FakeProc, pid_file: Path) -> None:
    clock = Clock()
    assert reload.wait_until_serving(str(pid_file), None, 2, proc=str(proc.root),
                                     clock=clock, sleep=clock.sleep) == 0
    for pid in (101, 102, 103):
        proc.remove(pid)
    with pytest.raises(reload.NotAppliedError, match="not serving within 2 s"):
        reload.wait_until_serving(str(pid_file), None, 2, proc=str(proc.root),
                                  clock=clock, sleep=clock.sleep)


# --- real nginx -----------------------------------------------------------------------------

GENERATION = ("    server {{ listen 127.0.0.1:{port}; "
              "location = /gen {{ return 200 \"{gen}\"; }} }}\n")


def with_generation(site: NginxSite, port: int, gen: int, base: str) -> None:
    """nginx.conf with one more server whose answer says which configuration serves."""
    site.conf.write_text(base[:base.rstrip().rindex("}")]
                         + GENERATION.format(port=port, gen=gen) + "}\n")


def generation(port: int) -> str:
    connection = http.client.HTTPConnection(net.LOOPBACK, port, timeout=5)
    try:
        connection.request("GET", "/gen")
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def serving_workers(master: int) -> set[int]:
    return reload.workers(reload.children(master))


@pytest.mark.nginx
def test_real_reload_is_in_service_when_the_wait_returns(site_factory: MakeSite,
                                                         nginx_bin: str) -> None:
    """Right after wait() returns, every new connection gets the new configuration."""
    site = site_factory()
    base, port = site.conf.read_text(), net.free_port()
    with_generation(site, port, 0, base)
    site.start()
    master = site.master_pid()
    assert master is not None
    for gen in range(1, 6):
        with_generation(site, port, gen, base)
        watch = reload.ReloadWatch.before_signal(str(site.root / "nginx.pid"),
                                                 str(site.error_log))
        assert watch.why_not == ""
        subprocess.run([nginx_bin, "-c", str(site.conf), "-s", "reload"], check=True,
                       env=site.base_env(), capture_output=True, timeout=30)
        took = watch.wait(30)
        assert [generation(port) for _ in range(5)] == [str(gen)] * 5
        assert serving_workers(master).isdisjoint(watch.old)
        assert 0 < took < 5


@pytest.mark.nginx
def test_real_rejected_reload_fails_at_once(site_factory: MakeSite, nginx_bin: str) -> None:
    """The master keeps its snap environment and rejects what a clean signaller accepted."""
    site = site_factory(legacy_key=True)
    site.conf.write_text(site.start_leaky_master())
    master = site.master_pid()
    assert master is not None
    watch = reload.ReloadWatch.before_signal(str(site.root / "nginx.pid"), str(site.error_log))
    assert watch.old
    started = time.monotonic()
    signalled = subprocess.run([nginx_bin, "-c", str(site.conf), "-s", "reload"],
                               env=site.base_env(), capture_output=True, timeout=30)
    assert signalled.returncode == 0  # what the stock plugin sees
    with pytest.raises(reload.ReloadRejectedError,
                       match=r"\[emerg\] .*cannot load certificate key .*des\.key"):
        watch.wait(30)
    assert time.monotonic() - started < 5
    assert serving_workers(master) == watch.old


@pytest.mark.nginx
def test_configurator_reports_a_rejected_reload(
        make_configurator: MakeConf, site_factory: MakeSite, nginx_bin: str,
        parse_config: Callable[..., configuration.NamespaceConfig],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Stock returns as if all went well; ours fails fast with nginx's words and the way out."""
    site = site_factory(legacy_key=True)
    for name, value in site.host_env.items():  # Certbot runs with the host's OpenSSL setup
        monkeypatch.setenv(name, value)
    full = site.start_leaky_master()
    ours = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                             "--cleanenv-nginx-timeout", "30")
    ours.prepare()
    stock = _compat.load_stock_configurator()(
        parse_config("--nginx-server-root", str(site.root), "--nginx-sleep-seconds", "0"),
        "nginx")
    site.conf.write_text(full)
    stock.restart()  # returns: the rejection goes unnoticed
    started = time.monotonic()
    with pytest.raises(errors.MisconfigurationError) as raised:
        ours.restart()
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert message.startswith("nginx rejected the new configuration and still serves the old "
                              "one: ")
    assert "cannot load certificate key" in message
    assert "restart nginx through its service manager (systemctl restart nginx.service)" \
        in message
    assert "\n" not in message


@pytest.mark.nginx
def test_configurator_rejection_without_an_environment_cause(make_configurator: MakeConf,
                                                             site_factory: MakeSite) -> None:
    """A port taken by someone else: nginx's words, and no talk of environments."""
    site = site_factory()
    site.start()
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root))
    plugin.prepare()
    with net.held_port() as port:  # the signaller does not bind; the master must
        site.conf.write_text(site.conf.read_text().replace(
            f"listen 127.0.0.1:{site.http_port};", f"listen 127.0.0.1:{port};"))
        with pytest.raises(errors.MisconfigurationError,
                           match=r"still serves the old one: .*\[emerg\] .*bind\(\) to "
                                 rf"127\.0\.0\.1:{port} failed") as raised:
            plugin.restart()
    assert "service manager" not in str(raised.value)
    assert net.accepts(site.http_port)


@pytest.mark.nginx
def test_rejection_is_read_from_the_first_error_log_that_is_a_file(
        make_configurator: MakeConf, site_factory: MakeSite, nginx_bin: str) -> None:
    """nginx logs to every error_log; a stderr one first must not hide the file after it."""
    site = site_factory()
    site.conf.write_text(site.conf.read_text().replace(
        f"error_log {site.error_log} notice;",
        f"error_log stderr;\nerror_log {site.error_log} notice;"))
    subprocess.run([nginx_bin, "-c", str(site.conf)], env=site.base_env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    net.wait_for_port(site.http_port)  # (the master keeps stderr: no pipe to wait on)
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-timeout", "30")
    plugin.prepare()
    started = time.monotonic()
    with net.held_port() as port:
        site.conf.write_text(site.conf.read_text().replace(
            f"listen 127.0.0.1:{site.http_port};", f"listen 127.0.0.1:{port};"))
        with pytest.raises(errors.MisconfigurationError, match=r"still could not bind\(\)"):
            plugin.restart()
    assert time.monotonic() - started < 10  # nginx's own retries, not our 30 s limit


@pytest.mark.nginx
def test_unwatchable_master_falls_back_to_the_stock_sleep(
        make_configurator: MakeConf, site_factory: MakeSite, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """master_process off: no workers to watch, so the stock 1 s sleep, said at debug level."""
    import certbot_cleanenv.configurator as module

    caplog.set_level(logging.DEBUG, logger="certbot_cleanenv")
    site = site_factory()
    site.conf.write_text("master_process off;\n" + site.conf.read_text())
    site.start()
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root))
    plugin.prepare()
    slept: list[float] = []
    monkeypatch.setattr(module, "time", SimpleNamespace(sleep=slept.append,
                                                        monotonic=time.monotonic))
    polls: list[float] = []  # the watch's own waits, recorded instead of slept
    monkeypatch.setattr(reload, "time", SimpleNamespace(sleep=polls.append,
                                                        monotonic=time.monotonic))
    plugin.restart()
    assert polls == []  # no 1 s wait for workers that never come
    assert slept == [module.STOCK_SLEEP_SECONDS]
    assert "Cannot watch nginx apply its configuration (nginx master " in caplog.text
    assert "has no workers (master_process off?)); sleeping 1 s instead" in caplog.text


@pytest.mark.nginx
def test_start_returns_once_nginx_accepts(make_configurator: MakeConf,
                                          site_factory: MakeSite) -> None:
    """After the fallback start, the listen address accepts the moment restart() returns."""
    site = site_factory()
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-start", "direct")
    plugin.prepare()
    for _ in range(3):
        plugin.restart()  # not running: the reload fails, nginx is started
        assert net.accepts(site.http_port)
        site.stop()


@pytest.mark.nginx
def test_start_that_never_serves_is_bounded(make_configurator: MakeConf, site_factory: MakeSite,
                                            tmp_path: Path, nginx_bin: str) -> None:
    """A start that exits 0 but leaves nothing running fails at the timeout, not later."""
    site = site_factory()
    ctl = tmp_path / "nginx-silent"  # the real nginx, except: reload fails, start does nothing
    ctl.write_text(f'#!/bin/sh\ncase " $* " in *" -s reload "*) echo "nginx: [error] invalid '
                   f'PID number" >&2; exit 1;; *" -t "*|*" -V "*) exec {nginx_bin} "$@";; '
                   'esac\nexit 0\n')
    ctl.chmod(0o755)
    plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                               "--cleanenv-nginx-ctl", str(ctl), "--cleanenv-nginx-timeout", "2",
                               "--cleanenv-nginx-start", "direct")
    plugin.prepare()
    started = time.monotonic()
    with pytest.raises(errors.MisconfigurationError,
                       match=rf"nginx was started but is not serving on 127\.0\.0\.1:"
                             rf"({site.http_port}|{site.https_port}) within 2 s"):
        plugin.restart()
    assert 2 <= time.monotonic() - started < 10  # the limit, not the 60 s default



@pytest.mark.nginx
def test_a_configuration_slow_to_read_warns_about_the_limit(
        make_configurator: MakeConf, site_factory: MakeSite, nginx_bin: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """A limit close to nginx's read time would cut reloads short: say so before it does.

    The scripted ctl pauses 2 s before the real ``nginx -t``: a read time with a floor,
    so the verdict does not ride on how fast this machine hashes a slow key, and 1.5 s
    of room under the limit for a busy machine.
    """
    site = site_factory()
    ctl = faults.scripted_ctl(tmp_path, nginx_bin, {"test": "slow:2"})

    def checked(timeout: str, reads: int) -> list[str]:
        caplog.clear()
        plugin = make_configurator("--cleanenv-nginx-server-root", str(site.root),
                                   "--cleanenv-nginx-ctl", str(ctl),
                                   "--cleanenv-nginx-timeout", timeout)
        plugin.prepare()
        for _ in range(reads):
            plugin.config_test()
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    warnings = checked("3.5", reads=1)  # prepare() reads once too
    assert len(warnings) == 1  # once, however many reads
    assert re.match(r"nginx needed [23]\.\d s to read its configuration; "
                    r"--cleanenv-nginx-timeout 3\.5 leaves little margin", warnings[0])
    assert checked("30", reads=0) == []


@pytest.mark.parametrize(("took", "says"), [(0.012, "0.012 s"), (2.345, "2.3 s")])
def test_slow_read_warning_shows_short_times_in_full(
        make_configurator: MakeConf, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        took: float, says: str) -> None:
    """A tiny limit (0.01 s) must not read "needed 0.0 s"."""
    plugin = make_configurator("--cleanenv-nginx-server-root", str(tmp_path),
                               "--cleanenv-nginx-timeout", "0.01")
    plugin._warn_if_slow(took)
    assert [r.getMessage().split(" to read")[0] for r in caplog.records] == [f"nginx needed {says}"]
