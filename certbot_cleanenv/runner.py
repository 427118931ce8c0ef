"""Run one nginx child process: explicit environment, no stdin, output captured, bounded.

The one place where our plugin starts a process, so the rules hold for every call:
``-t``, ``-V``, ``-s reload`` and the fallback start.

Output goes to a temporary file rather than a pipe: ``nginx`` (start) daemonizes,
and the daemon would hold a pipe's write end open, so reading to end-of-file would
block for as long as nginx runs (Certbot's stock plugin learned this in certbot#4324).
We therefore wait for the *direct* child only. It runs in a new session, so on timeout
its whole process group can be killed without touching Certbot; a daemonized nginx
master has already left that group with its own ``setsid()`` and is not affected.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from certbot import errors

logger = logging.getLogger(__name__)

_REAP_SECONDS = 5.0

#: Signals that end Certbot (a service stop, a closed terminal): its nginx child goes too.
_ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class ChildTimeoutError(errors.MisconfigurationError):
    """The child did not finish in time; it and its process group were killed."""


class ChildStartError(errors.MisconfigurationError):
    """The child could not be started at all (missing binary, permissions, ...)."""


@dataclass(frozen=True)
class ChildResult:
    """What a finished child left: exit status and its stdout+stderr, interleaved."""

    argv: tuple[str, ...]
    returncode: int
    output: str

    @property
    def command(self) -> str:
        """The command as a shell would show it."""
        return shlex.join(self.argv)


def run_nginx(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> ChildResult:
    """Run ``argv`` with exactly ``env``, stdin closed, and kill its group after ``timeout`` s.

    :raises ChildStartError: if the program cannot be started.
    :raises ChildTimeoutError: if it does not exit within ``timeout`` seconds.
    """
    command = shlex.join(argv)
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv comes from our own code, no shell
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env=dict(env), start_new_session=True, close_fds=True)
        except (OSError, ValueError) as error:
            raise ChildStartError(f"Could not run {command}: {error}") from error
        try:
            with _group_ends_with_us(proc):
                returncode = proc.wait(timeout=timeout)
            if ended_by_signal(returncode):  # what it started (a wrapper's children) goes too
                _kill_group(proc)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out.seek(0)
            said = last_lines(out.read().decode("utf-8", errors="replace"))
            raise ChildTimeoutError(
                f"{command} did not finish within {timeout:g} s "
                "(--cleanenv-nginx-timeout); it was killed with its process group"
                + (f"; its last output: {said}" if said else "; it printed nothing")
            ) from None
        except BaseException:  # Ctrl-C: its own session keeps it from the terminal's signal
            _kill_group(proc)
            raise
        out.seek(0)
        output = out.read().decode("utf-8", errors="replace")
    return ChildResult(tuple(argv), returncode, output)


def ended_by_signal(returncode: int) -> bool:
    """Whether a child ended by a signal: killed (< 0), or a shell's 128+N for one.

    nginx itself exits 0, 1 or 2; a wrapper script that traps a signal reports 128+N.
    """
    return returncode < 0 or 128 < returncode < 128 + signal.NSIG


def last_lines(output: str, count: int = 3, limit: int = 400) -> str:
    """The last ``count`` non-blank lines of ``output`` on one line, at most ``limit`` chars.

    Errors stay one line (Certbot shows them as such) yet still carry nginx's own words.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()][-count:]
    joined = " | ".join(lines)
    return joined if len(joined) <= limit else "..." + joined[-(limit - 3):]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (it leads it: ``start_new_session``) and reap it.

    The reap is bounded too: a process stuck in the kernel (D state) ignores SIGKILL
    until it returns, and must not hang Certbot.
    """
    with contextlib.suppress(ProcessLookupError):  # it exited between wait() and here
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_REAP_SECONDS)


@contextlib.contextmanager
def _group_ends_with_us(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """Kill the child's group before SIGTERM or SIGHUP ends Certbot by default action.

    The child has its own session, so signals sent to Certbot never reach it: a hung
    ``nginx -s reload`` would outlive a ``kill`` of Certbot. Only the default action
    needs this. A Python handler (Certbot's error handler) either raises, and the
    ``except`` around our wait kills the group, or defers the signal until Certbot's
    clean-up is done, and then the child must go on, bounded by the timeout, as stock.
    Only the main thread may set handlers; elsewhere the timeout alone bounds the child.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = [signum for signum in _ENDING_SIGNALS if signal.getsignal(signum) == signal.SIG_DFL]

    def end_group(signum: int, frame: FrameType | None) -> None:
        _kill_group(proc)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # end as we would have without this handler

    for signum in taken:
        signal.signal(signum, end_group)
    try:
        yield
    finally:
        for signum in taken:
            signal.signal(signum, signal.SIG_DFL)


def resolve_executable(name: str, env: Mapping[str, str], *,
                       hint: str = "install nginx or set --cleanenv-nginx-ctl to its "
                                   "absolute path") -> str:
    """Find ``name`` the way the child's ``execvpe`` will: in the *child's* PATH.

    Certbot's ``util.exe_exists`` looks in Certbot's own PATH, which is not the one the
    child gets; resolving once here makes the check and the run agree.

    :raises errors.NoInstallationError: listing where it looked.
    """
    if "/" in name:
        if not os.path.isabs(name):
            raise errors.NoInstallationError(
                f"nginx binary {name!r} is a relative path: give an absolute path "
                "or a bare name to look up in PATH (--cleanenv-nginx-ctl)")
        if _is_executable_file(name):
            return name
        raise errors.NoInstallationError(
            f"nginx binary {name} is not an executable file (--cleanenv-nginx-ctl)")
    searched = os.get_exec_path(dict(env))
    for directory in searched:
        candidate = os.path.join(directory, name)
        if os.path.isabs(candidate) and _is_executable_file(candidate):
            return candidate
    raise errors.NoInstallationError(
        f"Could not find an executable {name!r} in the PATH nginx would run with "
        f"({':'.join(searched)}); {hint}")


def _is_executable_file(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)
