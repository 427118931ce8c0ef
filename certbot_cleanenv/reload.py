"""Know when nginx has applied a reload (or a start) instead of sleeping blindly.

``nginx -s reload`` only signals the master and returns. The master then re-reads its
configuration; if that works it starts a new generation of workers and tells the old
ones to finish ("worker process is shutting down"); if not, it logs ``[emerg]`` or
``[alert]`` and keeps the old workers, and the signaller's exit status never says so.
We watch exactly that, in ``/proc`` and the error log, bounded by the timeout. Where
nothing can be observed we say so, and the caller sleeps as the stock plugin does.
"""
from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

WORKER = "worker process"
RETIRING = "shutting down"
POLL_SECONDS = 0.005

_PROBLEM = re.compile(r"\[(emerg|alert)\]")
#: A bind() that nginx retries (five times, 500 ms apart) before "still could not bind()".
_RETRIED = re.compile(r"bind\(\) to \S+ failed \(98: ")
#: The pid that wrote an ``[emerg]``/``[alert]`` line, and what it said.
_MESSAGE = re.compile(r"\[(?:emerg|alert)\] (\d+)#\d+: (.*)")


class ReloadRejectedError(Exception):
    """The master kept its old workers and logged why."""


class NotAppliedError(Exception):
    """The new configuration was not in service within the time limit."""


def read_pid(pid_file: str) -> int | None:
    """The pid in nginx's pid file, if the file is there and holds one."""
    try:
        with open(pid_file, encoding="ascii") as handle:
            text = handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def children(parent: int, proc: str = "/proc") -> dict[int, str]:
    """The live children of ``parent`` and their titles (what nginx writes as its argv)."""
    found: dict[int, str] = {}
    try:  # the kernel's list (CONFIG_PROC_CHILDREN), else a scan of every process
        with open(f"{proc}/{parent}/task/{parent}/children", encoding="ascii") as listed:
            entries = listed.read().split()
    except OSError:
        try:
            entries = os.listdir(proc)
        except OSError:
            return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                state, ppid = stat.read().rsplit(")", 1)[1].split()[:2]
            if int(ppid) != parent or state in ("Z", "X"):
                continue
            with open(f"{proc}/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue  # it exited while we looked
        found[int(entry)] = title
    return found


def workers(procs: Mapping[int, str]) -> set[int]:
    """Pids of the workers in service (not those finishing their connections)."""
    return {pid for pid, title in procs.items() if WORKER in title and RETIRING not in title}


def applied(old: set[int], procs: Mapping[int, str]) -> bool:
    """Done: a new generation of workers is up and no old worker still takes connections."""
    serving = workers(procs)
    return bool(serving - old) and not serving & old


def problems_since(error_log: str | None, offset: int) -> list[str]:
    """``[emerg]``/``[alert]`` lines the error log gained after ``offset``."""
    if error_log is None:
        return []
    try:
        with open(error_log, "rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if _PROBLEM.search(line)]


def rejection(problems: list[str], master: int) -> str | None:
    """What the master said, if ``problems`` show it gave up on the new configuration.

    Only the master's lines count: a worker's ``[alert]`` (say, too few
    worker_connections) says nothing about the reload. A bind() failing on an address
    in use is no verdict yet: nginx tries again, and says "still could not bind()" if it
    never works. Repeated messages are shown once.
    """
    said: dict[str, str] = {}
    for line in problems:
        found = _MESSAGE.search(line)
        if found is None or int(found.group(1)) != master:
            continue
        said.pop(found.group(2), None)
        said[found.group(2)] = line
    if all(_RETRIED.search(line) for line in said.values()):
        return None
    return " | ".join(list(said.values())[-3:])


def log_size(error_log: str | None) -> int:
    """Where the error log ends now (0 if it cannot be read)."""
    try:
        return os.path.getsize(error_log) if error_log else 0
    except OSError:
        return 0


@dataclass
class ReloadWatch:
    """A snapshot taken just before the reload signal, then waited on after it."""

    pid_file: str
    error_log: str | None
    proc: str = "/proc"
    master: int | None = None
    old: set[int] = field(default_factory=set)
    offset: int = 0
    why_not: str = ""  # empty when the reload can be observed

    @classmethod
    def before_signal(cls, pid_file: str, error_log: str | None, proc: str = "/proc",
                      settle: float = 1.0) -> ReloadWatch:
        """Record the master's current workers and the error log's end.

        A master without workers is waited for up to ``settle`` seconds: right after a
        start they are not forked yet, and would later pass for the new generation.
        """
        watch = cls(pid_file, error_log, proc)
        if not os.path.isdir(f"{proc}/self"):
            watch.why_not = f"no {proc} to observe processes in"
            return watch
        watch.master = read_pid(pid_file)
        if watch.master is None:
            watch.why_not = f"no nginx pid in {pid_file}"
            return watch
        deadline = time.monotonic() + settle  # a master just started forks its workers soon
        watch.old = workers(children(watch.master, proc))
        while not watch.old and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            watch.old = workers(children(watch.master, proc))
        if not watch.old:
            watch.why_not = f"nginx master {watch.master} has no workers (master_process off?)"
        watch.offset = log_size(error_log)
        return watch

    def wait(self, timeout: float, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> float:
        """Wait until the reload is applied; return the seconds it took.

        :raises ReloadRejectedError: with nginx's own words, as soon as they appear.
        :raises NotAppliedError: if neither happens within ``timeout`` seconds.
        """
        if self.master is None or self.why_not:
            raise NotAppliedError(f"cannot watch nginx's reload: {self.why_not}")
        started = clock()
        while True:
            procs = children(self.master, self.proc)
            if applied(self.old, procs):
                return clock() - started
            words = rejection(problems_since(self.error_log, self.offset), self.master)
            if words and not workers(procs) - self.old:
                raise ReloadRejectedError(words)
            if not os.path.exists(f"{self.proc}/{self.master}"):
                raise NotAppliedError(f"the nginx master {self.master} exited during the reload")
            if clock() - started >= timeout:
                raise NotAppliedError(
                    f"nginx did not apply the new configuration within {timeout:g} s "
                    f"(old workers {sorted(workers(procs) & self.old)} still in service)")
            sleep(POLL_SECONDS)


def wait_until_serving(pid_file: str, address: tuple[str, int] | None, timeout: float,
                       proc: str = "/proc", clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], None] = time.sleep) -> float:
    """After a start: wait until the master runs and, if known, ``address`` accepts.

    :raises NotAppliedError: if that does not happen within ``timeout`` seconds.
    """
    started = clock()
    while True:
        master = read_pid(pid_file)
        up = master is not None and os.path.exists(f"{proc}/{master}") and \
            bool(workers(children(master, proc)))
        if up and (address is None or _accepts(address)):
            return clock() - started
        if clock() - started >= timeout:
            where = f" on {address[0]}:{address[1]}" if address else ""
            raise NotAppliedError(f"nginx was started but is not serving{where} "
                                  f"within {timeout:g} s")
        sleep(POLL_SECONDS)


def _accepts(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False
