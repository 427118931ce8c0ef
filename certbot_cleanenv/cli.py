"""The ``certbot-cleanenv`` command (also ``python -m certbot_cleanenv``).

``check`` shows what nginx gets and why it fails; ``migrate`` switches existing
certificates to cleanenv-nginx. Every error is one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from certbot import errors, util

from certbot_cleanenv import __version__, check, migrate, policy

USAGE_ERROR = 64  # EX_USAGE: check's 0-4 are outcomes

CHECK_EPILOG = """\
exit status:
  0  nginx -t passes in both environments
  1  it fails as inherited and passes scrubbed: the environment breaks nginx
  2  it fails in both: the configuration is broken, not the environment
  3  it passes as inherited and fails scrubbed: the policy removes something needed
  4  the check could not run (nginx not found, a command timed out)
 64  usage error
"""

MIGRATE_EPILOG = """\
exit status:
  0  every selected file uses the target plugin now (or would, with --dry-run)
  1  at least one file was skipped; the reason is printed
  4  refused (another Certbot holds the lock, no renewal directory) or output unwritable
 64  usage error
141  its output was closed (e.g. | head): files not reached yet are unchanged
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line and exit 64 (2 means "both fail")."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = _Parser(prog="certbot-cleanenv", description=(
        "Diagnose nginx failures caused by Certbot's environment, and switch existing "
        "certificates to the cleanenv-nginx plugin."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    checker = commands.add_parser(
        "check", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=CHECK_EPILOG,
        help="run nginx -t and -V as inherited and as scrubbed, and compare",
        description="Run nginx -t and nginx -V twice: with this shell's environment and "
                    "with the environment cleanenv-nginx would give nginx. Prints the "
                    "variables removed (names only), both outcomes and a diagnosis. Run it "
                    "with the environment Certbot has (e.g. from the same cron job).")
    checker.add_argument("--server-root", default="/etc/nginx", metavar="DIR",
                         type=functools.partial(policy.parse_path, option="--server-root"),
                         help="nginx server root holding nginx.conf (default: /etc/nginx)")
    checker.add_argument("--ctl", default="nginx", metavar="PATH",
                         type=functools.partial(policy.parse_path, option="--ctl"),
                         help="nginx binary, absolute or looked up in the scrubbed PATH")
    checker.add_argument("--env-policy", default="scrub", type=policy.parse_mode,
                         metavar="{scrub,minimal,off}", help="as --cleanenv-nginx-env-policy")
    checker.add_argument("--keep-env", default=(), type=policy.parse_keep_env,
                         metavar="NAMES", help="as --cleanenv-nginx-keep-env")
    checker.add_argument("--drop-env", default=(), type=policy.parse_drop_env,
                         metavar="NAMES", help="as --cleanenv-nginx-drop-env")
    checker.add_argument("--timeout", default=policy.DEFAULT_TIMEOUT, type=policy.parse_timeout,
                         metavar="SECONDS", help="time limit per nginx command (default: 60)")
    checker.add_argument("--json", action="store_true", help="print the report as JSON")

    migrator = commands.add_parser(
        "migrate", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=MIGRATE_EPILOG,
        help="switch renewal configurations from nginx to cleanenv-nginx (or back)",
        description="Switch renewal configurations from the stock nginx plugin to "
                    "cleanenv-nginx: authenticator, installer, and nginx_* options become "
                    "cleanenv_nginx_*. Keeps a backup (*.conf.pre-cleanenv) beside each "
                    "changed file and writes atomically. Files using other plugins are "
                    "skipped with a reason. Refuses while another Certbot runs.")
    which = migrator.add_mutually_exclusive_group(required=True)
    which.add_argument("--cert-name", action="append", metavar="NAME", type=_cert_name,
                       help="a certificate to switch (repeat for more)")
    which.add_argument("--all", action="store_true", help="every renewal configuration")
    migrator.add_argument("--dry-run", action="store_true",
                          help="print a unified diff of each change and write nothing")
    migrator.add_argument("--revert", action="store_true",
                          help="switch back to the stock nginx plugin")
    migrator.add_argument("--config-dir", default="/etc/letsencrypt", type=Path, metavar="DIR",
                          help="Certbot's configuration directory (default: /etc/letsencrypt)")
    return parser


def _cert_name(value: str) -> str:
    """A lineage name as Certbot makes them: never empty, never a path."""
    if not value or "/" in value or value in (".", "..") or "\0" in value:
        raise argparse.ArgumentTypeError(
            f"invalid certificate name {value!r}: give a name as certbot certificates lists it")
    return value


def run_check(args: argparse.Namespace) -> int:
    """``check``: print the report; the exit status says which case it is."""
    env_policy = policy.EnvPolicy(mode=args.env_policy, keep=args.keep_env, drop=args.drop_env)
    try:
        report = check.check(args.server_root, args.ctl, env_policy, args.timeout)
    except errors.Error as error:
        print(f"certbot-cleanenv: {error}", file=sys.stderr)
        if args.json:  # scripts read stdout: give them the reason there too
            print(json.dumps({"error": str(error), "exit_code": check.CANNOT_RUN}))
        return check.CANNOT_RUN
    print(json.dumps(report.as_json(), indent=2) if args.json else check.render(report))
    return report.exit_code


def run_migrate(args: argparse.Namespace) -> int:
    """``migrate``: switch the selected files under Certbot's own lock."""
    renewal = args.config_dir / "renewal"
    if not renewal.is_dir():
        print(f"certbot-cleanenv: no renewal directory at {renewal}", file=sys.stderr)
        return check.CANNOT_RUN
    try:
        util.lock_dir_until_exit(str(args.config_dir))
    except errors.LockError:
        print(f"certbot-cleanenv: another Certbot or migrate is running (it holds the lock on "
              f"{args.config_dir}); try again when it has finished", file=sys.stderr)
        return check.CANNOT_RUN
    paths = sorted(renewal.glob("*.conf")) if args.all else \
        [renewal / f"{name}.conf" for name in args.cert_name]
    skipped = 0
    for path in paths:
        if not path.exists():
            print(f"{path}: skipped: no such renewal configuration")
            skipped += 1
            continue
        result = migrate.migrate_file(path, revert=args.revert, dry_run=args.dry_run)
        if result.diff and args.dry_run:
            print(result.diff, end="")
        print(f"{path}: {result.action}" + (f": {result.reason}" if result.reason else ""),
              flush=True)  # a closed pipe stops the run at the next file, not at exit
        skipped += result.action == "skipped"
    return 1 if skipped else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        code = run_check(args) if args.command == "check" else run_migrate(args)
        if sys.stdout is not None:  # None: started with stdout closed (>&-)
            sys.stdout.flush()  # a write error here, not in the interpreter's exit (120)
        return code
    except BrokenPipeError:  # `... | head`: the reader left; stop quietly as cat would
        _drain_stdout()
        return 128 + signal.SIGPIPE
    except OSError as error:
        print(f"certbot-cleanenv: {error}", file=sys.stderr)
        _drain_stdout()
        return check.CANNOT_RUN
    except KeyboardInterrupt:
        print("certbot-cleanenv: interrupted", file=sys.stderr)
        return 130


def _drain_stdout() -> None:
    """Flush stdout, or drop what it holds where it cannot be written.

    Otherwise the interpreter's own flush at exit fails again and turns our exit status
    into 120 with a "Exception ignored" message.
    """
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
