"""What the benchmarks share: a lab on loopback (Pebble, nginx, Certbot), figures, output.

Benchmarks print figures; they assert nothing about time (tests do not time things).
They reuse the test fixtures, so a benchmark runs the same real parts the tests run.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from certbot_cleanenv.environ import SYSTEM_PATH
from tests.fixtures import net
from tests.fixtures.acme import Pebble
from tests.fixtures.certbot import Certbot

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
#: What a root shell or a systemd timer gives Certbot: nothing the stock plugin trips on.
CLEAN_ENV = {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
#: The stock plugin's default sleep after each reload (``--nginx-sleep-seconds``).
STOCK_SLEEP = 1.0


@dataclass(frozen=True)
class Figures:
    """Median and max of a sample, in seconds."""

    median: float
    max: float
    n: int

    @classmethod
    def of(cls, sample: Sequence[float]) -> Figures:
        """Summarise ``sample`` (at least one value)."""
        return cls(statistics.median(sample), max(sample), len(sample))

    def ms(self) -> str:
        """``median 12.3 ms, max 15.0 ms (n=10)``."""
        return f"median {self.median * 1000:.1f} ms, max {self.max * 1000:.1f} ms (n={self.n})"


@contextlib.contextmanager
def lab(name: str) -> Iterator[tuple[Path, Pebble]]:
    """A private directory and one Pebble on loopback; everything is stopped on the way out."""
    with tempfile.TemporaryDirectory(prefix=f"cleanenv-bench-{name}-") as tmp:
        work = Path(tmp)
        pebble = Pebble(work / "pebble", http_port=net.free_port())
        pebble.start()
        try:
            yield work, pebble
        finally:
            pebble.stop()


def certbot(work: Path, pebble: Pebble) -> Certbot:
    """Certbot from this venv (the stock plugin and ours), with private state."""
    executable = Path(sys.executable).with_name("certbot")
    if not executable.exists():
        sys.exit(f"benchmarks: no certbot next to {sys.executable}; run them with ./dev bench")
    return Certbot(work / "certbot", pebble, executable)


def reloads_in(error_log: Path, since: int) -> int:
    """How many reload signals nginx logged after byte ``since`` (it logs each at notice)."""
    with error_log.open("rb") as log:
        log.seek(since)
        return log.read().count(b"signal 1 (SIGHUP) received")


def save(name: str, figures: dict[str, object]) -> Path:
    """Write a benchmark's figures as JSON under ``benchmarks/results/`` (for the chart)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return path


def heading(text: str) -> None:
    """Print a benchmark's title with what machine it runs on."""
    print(f"\n== {text} ({os.cpu_count()} cores, Python {sys.version.split()[0]})", flush=True)
