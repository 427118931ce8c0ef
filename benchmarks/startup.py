"""Benchmark 4: what installing cleanenv-nginx costs Certbot, and what the policy costs.

- ``certbot plugins`` (discovers and loads every plugin) in two venvs with the same pinned
  Certbot: one with Certbot alone, one with our package installed too (not editable, as
  ``pip install certbot-cleanenv`` would). Runs alternate; medians. Target: ratio <= 1.05.
- :func:`certbot_cleanenv.environ.build_child_env` on a 300-variable environment shaped
  like a snapped Certbot's: microseconds per call (once per nginx child).

    python -m benchmarks.startup [--runs N] [--certbot VERSION]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
import timeit
from pathlib import Path

from benchmarks.common import CLEAN_ENV, heading, save
from certbot_cleanenv.environ import build_child_env
from certbot_cleanenv.policy import EnvPolicy
from tests.fixtures import venvs

TARGET = 1.05
SNAP = "/snap/certbot/4412"


def with_ours(bare: Path, version: str) -> Path:
    """A venv beside ``bare`` with the same pinned Certbot plus our package (not editable).

    Rebuilt every run, so it holds this checkout as ``pip install`` would install it.
    """
    venv = bare.with_name(f"{bare.name}-with-cleanenv")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([str(bare / "bin" / "python"), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "-c", str(venvs.constraints_file(version)),
                    "certbot", "certbot-nginx", str(venvs.REPO)], check=True)
    return venv


def time_plugins(venv: Path, state: Path) -> float:
    """Seconds for one ``certbot plugins`` run."""
    argv = [str(venv / "bin" / "certbot"), "plugins", "--config-dir", str(state / "config"),
            "--work-dir", str(state / "work"), "--logs-dir", str(state / "logs")]
    started = time.monotonic()
    subprocess.run(argv, env=CLEAN_ENV, check=True, capture_output=True)
    return time.monotonic() - started


def snapped_environment(size: int = 300) -> dict[str, str]:
    """A snapped Certbot's environment, padded with ordinary variables to ``size``."""
    env = {
        "PATH": f"{SNAP}/bin:{SNAP}/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
        "LD_LIBRARY_PATH": f"{SNAP}/lib:/snap/certbot/current/usr/lib:/usr/local/lib",
        "SNAP": SNAP, "SNAP_NAME": "certbot", "SNAP_REVISION": "4412", "SNAP_ARCH": "amd64",
        "SNAP_DATA": "/var/snap/certbot/4412", "CERTBOT_SNAPPED": "True",
        "OPENSSL_MODULES": f"{SNAP}/usr/lib/x86_64-linux-gnu/ossl-modules",
        "OPENSSL_FORCE_FIPS_MODE": "0", "AUGEAS_LENS_LIB": f"{SNAP}/usr/share/augeas/lenses/dist",
        "HOME": "/root", "LANG": "C.UTF-8", "TZ": ":Europe/Paris",
    }
    n = 0
    while len(env) < size:
        kind = n % 4
        env[f"APP_SETTING_{n}"] = (
            f"/opt/app/{n}/lib:/usr/lib/app{n}" if kind == 0 else
            f"{SNAP}/usr/share/thing{n}" if kind == 1 else
            f"value-{n}" if kind == 2 else f"https://example.org/{n}?a=b")
        n += 1
    return env


def main() -> None:
    """Time ``certbot plugins`` with and without us, then the policy per call."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per venv (default 15)")
    parser.add_argument("--certbot", default="5.8.0", help="Certbot release (a constraints file)")
    args = parser.parse_args()
    heading(f"certbot plugins with and without cleanenv-nginx (Certbot {args.certbot}), "
            f"{args.runs} runs each")
    bare = venvs.certbot_venv(args.certbot)
    ours = with_ours(bare, args.certbot)
    times: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="cleanenv-bench-startup-") as tmp:
        state = Path(tmp)
        time_plugins(bare, state)  # warm the file cache for both
        time_plugins(ours, state)
        for run in range(args.runs):
            pair = [("without", bare), ("with", ours)]
            for name, venv in pair if run % 2 == 0 else reversed(pair):
                times[name].append(time_plugins(venv, state))
    without, with_ = statistics.median(times["without"]), statistics.median(times["with"])
    ratio = with_ / without
    print(f"without: median {without * 1000:.0f} ms; with: median {with_ * 1000:.0f} ms; "
          f"ratio {ratio:.3f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'})")

    env = snapped_environment()
    policy = EnvPolicy()
    calls = 2000
    per_call = min(timeit.repeat(lambda: build_child_env(env, policy), number=calls,
                                 repeat=5)) / calls
    child = build_child_env(env, policy)
    print(f"build_child_env on {len(env)} variables: {per_call * 1e6:.0f} us per call "
          f"(best of 5 x {calls}); {len(child.changes)} removed or rewritten")
    save("startup", {"certbot": args.certbot, "without_s": times["without"],
                     "with_s": times["with"], "ratio": ratio, "policy_us_per_call":
                     per_call * 1e6, "policy_env_size": len(env)})


if __name__ == "__main__":
    main()
