#!/usr/bin/env python3
"""Lay out the plugin snap's site-packages: our package and its dist-info, nothing else.

snapcraft runs this (``override-build``), and so do the tests and the README, so what
they check is what the snap ships.

    python3 snap/build.py TARGET      pip install --no-deps --target TARGET ., then check
    python3 snap/build.py --check DIR check an existing directory only

Why the check: the Certbot snap already provides certbot, certbot-nginx and acme. Their
copies in a plugin directory would be silently shadowed (importlib.metadata keeps the
first distribution of each name on sys.path, and plugin directories come last), and a
distribution declaring an entry point name Certbot already has (``nginx``) makes every
Certbot command fail with "Duplicate plugin name".
"""
from __future__ import annotations

import argparse
import configparser
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUR_PACKAGE = "certbot_cleanenv"
#: Plugin names the Certbot snap itself declares (certbot and certbot-nginx).
CERTBOT_PLUGIN_NAMES = frozenset({"apache", "manual", "nginx", "null", "standalone", "webroot"})


def problems(target: Path) -> list[str]:
    """What in ``target`` must not ship in the plugin snap (empty if it is clean)."""
    found: list[str] = []
    ours = [p for p in target.glob(f"{OUR_PACKAGE}-*.dist-info") if p.is_dir()]
    if not (target / OUR_PACKAGE).is_dir() or len(ours) != 1:
        found.append(f"{target} must hold exactly one {OUR_PACKAGE} package and its dist-info")
    for entry in sorted(target.iterdir()) if target.is_dir() else []:
        if entry.name == OUR_PACKAGE or entry in ours:
            continue
        if entry.name.endswith(".dist-info"):
            found.append(f"{entry.name}: another distribution; the Certbot snap provides its "
                         "own, and this copy would be shadowed")
        else:
            found.append(f"{entry.name}: not part of {OUR_PACKAGE}")
    for dist_info in target.glob("*.dist-info") if target.is_dir() else []:
        found += [f"{dist_info.name}: declares Certbot plugin {name!r}, which Certbot already "
                  "has (every Certbot command would fail with 'Duplicate plugin name')"
                  for name in _entry_point_names(dist_info, "certbot.plugins")
                  & CERTBOT_PLUGIN_NAMES]
    return found


def _entry_point_names(dist_info: Path, group: str) -> set[str]:
    entry_points = configparser.ConfigParser(delimiters=("=",))
    entry_points.optionxform = str  # type: ignore[assignment,method-assign]
    entry_points.read(dist_info / "entry_points.txt")
    if not entry_points.has_section(group):
        return set()
    return {name.strip() for name in entry_points.options(group)}


def build(target: Path, source: Path = REPO) -> None:
    """Install ``source`` alone into ``target`` (no dependencies, no bytecode).

    Our console script (``bin/certbot-cleanenv``) is dropped: its ``#!`` names the build
    machine's Python, and the Certbot snap exposes no commands of plugins anyway.
    """
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",  # noqa: S603
                    "--no-compile", "--disable-pip-version-check", "--upgrade",
                    "--target", str(target), str(source)], check=True)
    scripts = target / "bin"
    for dist_info in target.glob(f"{OUR_PACKAGE}-*.dist-info"):
        for name in _entry_point_names(dist_info, "console_scripts"):
            (scripts / name).unlink(missing_ok=True)
    if scripts.is_dir() and not any(scripts.iterdir()):
        scripts.rmdir()


def main(argv: list[str] | None = None) -> int:
    """Build and/or check; print one line per problem and return 1 if any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check TARGET")
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if not args.check:
        build(args.target)
    found = problems(args.target)
    for problem in found:
        print(f"snap/build.py: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
