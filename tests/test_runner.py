"""The one place children run: exact env, stdin closed, output captured, timeout kills the group."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from certbot import errors

from certbot_cleanenv import runner

PY = sys.executable


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(body)
    return [PY, "-I", str(path)]


def pid_written(pidfile: Path, pid: str) -> str:
    """Child code that writes ``pid`` (an expression) to ``pidfile`` whole or not at all."""
    return (f"import os\nopen({str(pidfile)!r} + '.tmp', 'w').write(str({pid}))\n"
            f"os.replace({str(pidfile)!r} + '.tmp', {str(pidfile)!r})\n")


def test_child_gets_exactly_env_and_no_stdin(tmp_path: Path) -> None:
    # /proc/self/environ is the block as exec'd, before Python's own locale coercion.
    argv = script(tmp_path, "import json, sys\n"
                            "raw = open('/proc/self/environ', 'rb').read().split(b'\\0')\n"
                            "env = dict(v.decode().split('=', 1) for v in raw if v)\n"
                            "print(json.dumps(env), flush=True)\n"
                            "print(repr(sys.stdin.read()), file=sys.stderr)\n")
    env = {"ONLY": "this", "PATH": "/usr/bin"}
    result = runner.run_nginx(argv, env, timeout=30)
    first, second = result.output.splitlines()
    assert json.loads(first) == env
    assert second == "''"  # stdin is /dev/null: reads end at once
    assert result.returncode == 0
    assert result.argv == tuple(argv)


def test_exit_status_and_interleaved_output(tmp_path: Path) -> None:
    argv = script(tmp_path, "import sys\nprint('out', flush=True)\n"
                            "print('err', file=sys.stderr, flush=True)\nsys.exit(3)\n")
    result = runner.run_nginx(argv, {}, timeout=30)
    assert (result.returncode, result.output) == (3, "out\nerr\n")


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    argv = script(tmp_path, "import subprocess, sys, time\n"
                            "p = subprocess.Popen([sys.executable, '-c',"
                            " 'import time; time.sleep(600)'])\n"
                            + pid_written(pidfile, "p.pid") + "time.sleep(600)\n")
    started = time.monotonic()
    with pytest.raises(runner.ChildTimeoutError) as caught:
        runner.run_nginx(argv, {}, timeout=2.5)  # room to start two Pythons on a busy machine
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert "\n" not in message
    assert "2.5 s" in message
    assert str(tmp_path / "child.py") in message
    grandchild = int(pidfile.read_text())
    assert _within(5, lambda: not _alive(grandchild)), \
        "a process the child spawned survived the timeout"
    assert isinstance(caught.value, errors.MisconfigurationError)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _within(seconds: float, done: Callable[[], bool]) -> bool:
    """Poll ``done`` until it holds or ``seconds`` pass; what it says last."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return done()


def test_daemonized_grandchild_does_not_block_or_die(tmp_path: Path) -> None:
    """Like ``nginx`` starting: the child forks a daemon that keeps stdout and exits."""
    pidfile = tmp_path / "daemon.pid"
    argv = script(tmp_path, "import os, time\n"
                            "if os.fork() == 0:\n"
                            "    os.setsid()\n"
                            + "".join("    " + line + "\n"
                                      for line in pid_written(pidfile, "os.getpid()").splitlines())
                            + "    time.sleep(30)\n"
                            "    os._exit(0)\n"
                            "print('parent done', flush=True)\n")
    started = time.monotonic()
    result = runner.run_nginx(argv, {}, timeout=20)
    assert time.monotonic() - started < 10
    assert result.output.startswith("parent done")
    assert _within(5, pidfile.exists)
    daemon = int(pidfile.read_text())
    assert _alive(daemon)
    os.kill(daemon, 9)


def test_missing_program_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(runner.ChildStartError) as caught:
        runner.run_nginx([str(tmp_path / "nope"), "-t"], {}, timeout=5)
    assert "\n" not in str(caught.value)
    assert "nope" in str(caught.value)


def _exe(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_resolve_searches_the_childs_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _exe(tmp_path / "a" / "nginx", 0o644)  # not executable: skipped
    wanted = _exe(tmp_path / "b" / "nginx")
    env = {"PATH": f"{tmp_path / 'a'}:{tmp_path / 'b'}"}
    assert runner.resolve_executable("nginx", env) == str(wanted)


def test_resolve_ignores_relative_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _exe(tmp_path / "nginx")
    with pytest.raises(errors.NoInstallationError):
        runner.resolve_executable("nginx", {"PATH": ":."})


def test_resolve_not_found_lists_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(errors.NoInstallationError) as caught:
        runner.resolve_executable("nginx", {"PATH": f"{tmp_path}/x:{tmp_path}/y"})
    assert f"{tmp_path}/x:{tmp_path}/y" in str(caught.value)
    assert "--cleanenv-nginx-ctl" in str(caught.value)


def test_resolve_without_path_uses_pythons_default() -> None:
    """No PATH: Python (and so the child) would search /bin:/usr/bin only."""
    with pytest.raises(errors.NoInstallationError) as caught:
        runner.resolve_executable("definitely-not-a-program", {})
    assert os.defpath.lstrip(":") in str(caught.value) or "/bin:/usr/bin" in str(caught.value)


@pytest.mark.parametrize("kind", ["relative", "directory", "not-executable", "missing"])
def test_resolve_explicit_paths(tmp_path: Path, kind: str) -> None:
    target = {"relative": "bin/nginx", "directory": str(tmp_path),
              "not-executable": str(_exe(tmp_path / "nginx", stat.S_IRUSR)),
              "missing": str(tmp_path / "missing")}[kind]
    with pytest.raises(errors.NoInstallationError) as caught:
        runner.resolve_executable(target, {"PATH": "/usr/bin"})
    assert "\n" not in str(caught.value)


def test_resolve_absolute_executable(tmp_path: Path) -> None:
    ok = _exe(tmp_path / "nginx")
    assert runner.resolve_executable(str(ok), {}) == str(ok)


def test_interrupt_kills_the_group(tmp_path: Path) -> None:
    """Ctrl-C in Certbot: the child sits in its own session, so we must kill it ourselves."""
    pidfile = tmp_path / "child.pid"
    argv = script(tmp_path, "import time\n" + pid_written(pidfile, "os.getpid()")
                  + "time.sleep(600)\n")

    def interrupt(signum: int, frame: object) -> None:
        if pidfile.exists():  # Ctrl-C once the child runs, not while it is being started
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5, 0.1)
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run_nginx(argv, {}, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not _alive(int(pidfile.read_text()))


PARENT = """
import signal, sys
from certbot_cleanenv import runner
if sys.argv[2] == "raises":  # Certbot's error handler in the body of its context
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(7))
elif sys.argv[2] == "defers":  # Certbot's error handler once that body has run
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
try:
    runner.run_nginx([sys.executable, "-I", sys.argv[1]], {}, timeout=float(sys.argv[3]))
except runner.ChildTimeoutError:
    sys.exit(5)
"""


@pytest.mark.parametrize(("handler", "status"), [("default", -15), ("raises", 7), ("defers", 5)])
def test_sigterm_to_certbot_and_the_child(tmp_path: Path, handler: str, status: int) -> None:
    """``kill`` of Certbot must not leave a hung nginx behind, nor change what the signal does.

    By default the signal ends Certbot: the child's group goes first. A handler that
    raises ends the wait, and the group goes with it. A handler that defers the signal
    lets Certbot finish its work: the child runs on, bounded by the time limit, as stock.
    """
    pidfile = tmp_path / "child.pid"
    child = tmp_path / "child.py"
    child.write_text("import time\n" + pid_written(pidfile, "os.getpid()") + "time.sleep(600)\n")
    limit = 5 if handler == "defers" else 60
    with subprocess.Popen([PY, "-c", PARENT, str(child), handler, str(limit)]) as parent:
        try:
            assert _within(30, pidfile.exists)
            pid = int(pidfile.read_text())
            parent.send_signal(signal.SIGTERM)
            if handler == "defers":
                time.sleep(0.5)
                assert _alive(pid), "a deferred signal killed the child"
            assert parent.wait(timeout=30) == status
        finally:
            parent.kill()
    assert not _alive(pid), "the child outlived Certbot"


def test_signal_handlers_are_restored(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    runner.run_nginx(script(tmp_path, "pass\n"), {}, timeout=30)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before


def test_timeout_error_quotes_the_last_output_on_one_line(tmp_path: Path) -> None:
    argv = script(tmp_path, "import time\n"
                            "for n in range(5):\n    print(f'line {n}', flush=True)\n"
                            "time.sleep(600)\n")
    with pytest.raises(runner.ChildTimeoutError) as caught:
        runner.run_nginx(argv, {}, timeout=2.5)
    message = str(caught.value)
    assert "\n" not in message
    assert message.endswith("its last output: line 2 | line 3 | line 4")


def test_timeout_error_says_when_nothing_was_printed(tmp_path: Path) -> None:
    argv = script(tmp_path, "import time\ntime.sleep(600)\n")
    with pytest.raises(runner.ChildTimeoutError, match=r"it printed nothing$"):
        runner.run_nginx(argv, {}, timeout=1)


@pytest.mark.parametrize(("output", "said"), [
    ("", ""), ("\n\n", ""), ("a\n\nb\n", "a | b"), ("1\n2\n3\n4\n", "2 | 3 | 4"),
    ("x" * 500, "..." + "x" * 397),
])
def test_last_lines(output: str, said: str) -> None:
    assert runner.last_lines(output) == said


@pytest.mark.parametrize(("returncode", "ended"), [
    (0, False), (1, False), (2, False), (128, False), (-9, True), (-15, True), (129, True),
    (143, True), (128 + 64, True), (255, False),
])
def test_ended_by_signal(returncode: int, ended: bool) -> None:
    assert runner.ended_by_signal(returncode) is ended


@pytest.mark.parametrize("ending", ["os.kill(os.getpid(), 15)", "os._exit(143)"],
                         ids=["killed", "exit 143"])
def test_a_child_ended_by_a_signal_takes_its_group_along(tmp_path: Path, ending: str) -> None:
    """A wrapper killed (or trapping the signal) must not leave what it started running."""
    pidfile = tmp_path / "grandchild.pid"
    argv = script(tmp_path, "import os, subprocess, sys\n"
                            "p = subprocess.Popen([sys.executable, '-c',"
                            " 'import time; time.sleep(600)'])\n"
                            + pid_written(pidfile, "p.pid") + ending + "\n")
    result = runner.run_nginx(argv, {}, timeout=30)
    assert runner.ended_by_signal(result.returncode)
    grandchild = int(pidfile.read_text())
    assert _within(5, lambda: not _alive(grandchild)), "what the child started outlived it"
