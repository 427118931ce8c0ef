"""``certbot-cleanenv check``: run nginx twice, as inherited and as scrubbed, and compare.

Certbot's maintainers could not reproduce the incident because nothing showed what
environment nginx actually got. This runs ``nginx -t`` and ``nginx -V`` through the
same runner the plugin uses, once with this process's environment and once with the
policy's, and reports both.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from certbot_cleanenv import environ, runner
from certbot_cleanenv.diagnose import Diagnosis, diagnose
from certbot_cleanenv.policy import EnvPolicy

#: Exit codes, as documented in README and ``--help``.
BOTH_PASS, ONLY_SCRUBBED_PASSES, BOTH_FAIL, ONLY_INHERITED_PASSES, CANNOT_RUN = 0, 1, 2, 3, 4

FIPS_FLAG = Path("/proc/sys/crypto/fips_enabled")


@dataclass(frozen=True)
class Outcome:
    """One nginx command's result."""

    ok: bool
    exit: int
    output: str


@dataclass(frozen=True)
class Run:
    """``nginx -t`` and ``nginx -V`` in one environment."""

    test: Outcome
    version: Outcome


@dataclass(frozen=True)
class Report:
    """Everything ``check`` found; ``exit_code`` summarises it."""

    snap: bool
    fips: str | None
    snap_installed: list[str]  # Certbot snaps found on this host, where snapd mounts them
    ctl: str
    policy: str
    removed: list[dict[str, str]]
    inherited: Run
    scrubbed: Run
    diagnosis: Diagnosis | None
    exit_code: int

    def as_json(self) -> dict[str, object]:
        """A plain dict for ``--json``."""
        return asdict(self)


def fips_state(flag: Path = FIPS_FLAG) -> str | None:
    """The kernel's FIPS switch ('0'/'1'), or None where the kernel has none."""
    try:
        return flag.read_text().strip()
    except OSError:
        return None


def _run(ctl: str, conf: str, env: Mapping[str, str], timeout: float) -> Run:
    def one(*args: str) -> Outcome:
        result = runner.run_nginx([ctl, "-c", conf, *args], env, timeout)
        return Outcome(result.returncode == 0, result.returncode, result.output)
    return Run(one("-t"), one("-V"))


def check(server_root: str, ctl: str, policy: EnvPolicy, timeout: float,
          parent: Mapping[str, str] | None = None) -> Report:
    """Run the comparison (``parent`` defaults to this process's environment).

    :raises certbot.errors.Error: if nginx cannot be found or a run times out.
    """
    inherited_env = dict(os.environ if parent is None else parent)
    child = environ.build_child_env(inherited_env, policy)
    absolute = runner.resolve_executable(ctl, child.env)  # the same binary for both runs
    conf = os.path.join(server_root, "nginx.conf")
    inherited = _run(absolute, conf, inherited_env, timeout)
    scrubbed = _run(absolute, conf, child.env, timeout)
    code = {(True, True): BOTH_PASS, (False, True): ONLY_SCRUBBED_PASSES,
            (False, False): BOTH_FAIL, (True, False): ONLY_INHERITED_PASSES}[
        (inherited.test.ok, scrubbed.test.ok)]
    return Report(
        snap="SNAP" in inherited_env and "CERTBOT_SNAPPED" in inherited_env,
        fips=fips_state(), snap_installed=certbot_snaps(), ctl=absolute, policy=policy.mode,
        removed=[{"name": environ.printable_name(c.name), "reason": c.reason}
                 for c in child.changes],
        inherited=inherited, scrubbed=scrubbed,
        diagnosis=diagnose(inherited.test.output) if code == ONLY_SCRUBBED_PASSES else None,
        exit_code=code)


def certbot_snaps(mount_dirs: tuple[str, ...] = ("/snap", "/var/lib/snapd/snap")) -> list[str]:
    """Where a Certbot snap is installed (its ``current`` link), under snapd's mount dirs.

    The shell running ``check`` is rarely the snap's own, so its variables alone would
    nearly always say "not a snap" on hosts that renew from the snap's timer.
    """
    return [path for path in (os.path.join(d, "certbot", "current") for d in mount_dirs)
            if os.path.exists(path)]


def render(report: Report) -> str:
    """The human-readable report."""
    def outcome(run: Run) -> str:
        test = "passed" if run.test.ok else f"FAILED (exit {run.test.exit})"
        banner = next((line for line in run.version.output.splitlines()
                       if "version" in line.lower()), "no version banner")
        return f"nginx -t {test}; nginx -V: {banner.strip()}"

    fips = {"1": "on", "0": "off", None: "unknown (no /proc/sys/crypto/fips_enabled)"}.get(
        report.fips, report.fips)
    lines = [
        f"Certbot from a snap: {'yes (SNAP and CERTBOT_SNAPPED are set)' if report.snap else 'no'}",
        "Certbot snap on this host: " + (", ".join(report.snap_installed) or "none found")
        + (" (certbot renew from its timer runs there: use the snap plugin)"
           if report.snap_installed and not report.snap else ""),
        f"Host FIPS mode: {fips}",
        f"nginx: {report.ctl}",
        f"Removed by env-policy {report.policy} (names only):",
        *[f"  {item['name']}: {item['reason']}" for item in report.removed],
        *([] if report.removed else ["  nothing"]),
        f"Inherited environment: {outcome(report.inherited)}",
        f"Scrubbed environment:  {outcome(report.scrubbed)}",
    ]
    failed = report.inherited if not report.inherited.test.ok else report.scrubbed
    if not failed.test.ok:
        lines += ["nginx said:", *[f"  {line}" for line in failed.test.output.strip().splitlines()]]
    if report.diagnosis:
        lines += [f"Diagnosis ({report.diagnosis.kind}): {report.diagnosis.explanation}",
                  f"Fix: {report.diagnosis.fix}"]
    elif report.exit_code == BOTH_FAIL:
        lines.append("Diagnosis: nginx fails in both environments: fix the configuration "
                     "first (nginx's own words above); the environment is not the cause.")
    elif report.exit_code == ONLY_INHERITED_PASSES:
        lines.append("Diagnosis: the policy removed something this nginx needs: add it with "
                     "--env-policy scrub or --keep-env NAME.")
    else:
        lines.append("Diagnosis: nginx works in both environments.")
    return "\n".join(lines)
