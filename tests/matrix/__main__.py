"""Run the version matrix: ``python -m tests.matrix [VERSION ...]`` (or ``./dev matrix``).

For each tested Certbot release (one ``constraints/certbot-<version>.txt`` each), in a cached
venv holding that Certbot and this checkout of our package:

1. our suite's fast part and its real-nginx part (``-m "not e2e"``): the end-to-end suites
   already run their own Certbot 3.2.0 and 5.8.0 venvs in ``./dev test``;
2. the stock Nginx plugin's own tests, shipped by that release, with cleanenv-nginx in place
   of the stock class (``tests/matrix/stock_harness.py``). Releases before 2.5 ship them in
   the certbot-nginx sdist only, which is downloaded once into the cache.

Prints one line per step and a table at the end; exits 1 if any step failed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.venvs import CACHE, REPO, matrix_venv

HERE = Path(__file__).resolve().parent
#: Where each layout keeps the stock plugin's tests, relative to site-packages.
STOCK_TEST_DIRS = ("certbot/_internal/tests/plugins/nginx", "certbot_nginx/_internal/tests")


def tested_versions() -> list[str]:
    """Every release with a constraints file, oldest first."""
    found = [m.group(1) for p in (REPO / "constraints").glob("certbot-*.txt")
             if (m := re.fullmatch(r"certbot-(\d+(?:\.\d+)*)\.txt", p.name))]
    return sorted(found, key=lambda v: tuple(int(n) for n in v.split(".")))


@dataclass
class Step:
    """One suite run against one Certbot release."""

    version: str
    suite: str
    ok: bool
    seconds: float
    summary: str


def run_pytest(python: Path, args: list[str], cwd: Path, log: Path) -> tuple[bool, str]:
    """Run pytest with the venv's Python; keep the whole output in ``log``.

    :returns: whether it passed, and pytest's last summary line.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("w") as out:
        code = subprocess.run([str(python), "-m", "pytest", *args], cwd=cwd, env=env,
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              check=False).returncode
    lines = [line.strip("= ") for line in log.read_text().splitlines() if line.strip()]
    return code == 0, (lines[-1] if lines else f"pytest exited {code}")


def stock_tests(venv: Path, version: str) -> Path:
    """The directory holding the stock Nginx plugin's tests for this release."""
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", where],
                               capture_output=True, text=True, check=True).stdout.strip())
    for relative in STOCK_TEST_DIRS:
        if (site / relative / "configurator_test.py").is_file():
            return site / relative
    return sdist_tests(venv, version)


def sdist_tests(venv: Path, version: str) -> Path:
    """Fetch (once) certbot-nginx's sdist, which holds ``tests/`` before Certbot 2.5."""
    target = CACHE / "stock-tests" / f"certbot-nginx-{version}"
    tests = target / "tests"
    if (tests / "configurator_test.py").is_file():
        return tests
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "download", "--quiet",
                        "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check",
                        "-d", download, f"certbot-nginx=={version}"], check=True)
        (sdist,) = Path(download).glob("*.tar.gz")
        prefix = f"{sdist.name.removesuffix('.tar.gz')}/tests/"
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
            for member in members:
                member.name = member.name.removeprefix(prefix)
            archive.extractall(tests, members=members, filter="data")
    return tests


def run_version(version: str, logs: Path) -> list[Step]:
    """Both suites against one release."""
    started = time.monotonic()
    venv = matrix_venv(version)
    python = venv / "bin" / "python"
    print(f"certbot {version}: venv ready in {time.monotonic() - started:.0f} s", flush=True)
    steps = []

    started = time.monotonic()
    ok, summary = run_pytest(python, ["-m", "not e2e", "-q", "-p", "no:cacheprovider"], REPO,
                             logs / f"certbot-{version}-ours.log")
    steps.append(Step(version, "ours (fast + real nginx)", ok, time.monotonic() - started,
                      summary))

    started = time.monotonic()
    tests = stock_tests(venv, version)
    with tempfile.TemporaryDirectory() as cwd:
        ok, summary = run_pytest(
            python, ["-c", str(HERE / "stock-pytest.ini"), "--rootdir", str(tests),
                     "-p", "tests.matrix.stock_harness", "-q", str(tests)],
            Path(cwd), logs / f"certbot-{version}-stock.log")
    steps.append(Step(version, "stock nginx tests, our class", ok, time.monotonic() - started,
                      summary))
    for step in steps:
        print(f"certbot {version}: {'PASS' if step.ok else 'FAIL'} {step.suite}: "
              f"{step.summary} ({step.seconds:.0f} s)", flush=True)
    return steps


def main(argv: list[str] | None = None) -> int:
    """Run the matrix for the given versions (default: every tested one)."""
    known = tested_versions()
    parser = argparse.ArgumentParser(prog="./dev matrix", description=__doc__.split("\n")[0])
    parser.add_argument("versions", nargs="*", metavar="VERSION",
                        help=f"Certbot releases to run (default: {' '.join(known)})")
    parser.add_argument("--logs", type=Path, default=CACHE.parent / "matrix-logs",
                        help="where each run's full pytest output goes (default: %(default)s)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.versions) - set(known))
    if unknown:
        parser.error(f"no constraints file for {', '.join(unknown)} (tested: {' '.join(known)})")
    args.logs.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    steps = [step for version in (args.versions or known) for step in run_version(version,
                                                                                  args.logs)]
    print(f"\nCertbot  {'suite':32} {'result':6} {'seconds':>7}  summary")
    for step in steps:
        print(f"{step.version:8} {step.suite:32} {'pass' if step.ok else 'FAIL':6} "
              f"{step.seconds:7.0f}  {step.summary}")
    print(f"matrix wall time: {time.monotonic() - started:.0f} s; logs in {args.logs}")
    return 0 if all(step.ok for step in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
