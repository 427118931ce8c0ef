"""``cleanenv-nginx``: Certbot's stock Nginx plugin, with clean, bounded nginx child processes.

This class *is* the stock authenticator+installer; it only reroutes the four places
where the stock plugin starts nginx (``-t``, ``-V``, ``-s reload`` and the fallback
start) through :func:`certbot_cleanenv.runner.run_nginx`, with the environment that
:func:`certbot_cleanenv.environ.build_child_env` computes. Everything else (parsing,
editing, http-01, rollback) is inherited unchanged.
"""
from __future__ import annotations

import logging
import os
import signal
import stat
import time
from collections.abc import Callable
from typing import Any

import configobj
from certbot import errors

from certbot_cleanenv import (
    banner,
    diagnose,
    environ,
    nginx_conf,
    policy,
    reload,
    renewal_check,
    runner,
    start,
)
from certbot_cleanenv._compat import StockConfigurator, stock_module

logger = logging.getLogger(__name__)

#: Renewal files already warned about in this process (Certbot makes a plugin per lineage).
_WARNED_RENEWAL_FILES: set[str] = set()
_WARNED_MIXED_PLUGINS: list[bool] = []

#: The stock plugin's wait after each reload, kept where a reload cannot be watched.
STOCK_SLEEP_SECONDS = 1

#: What changes in the stock options' declarations (names and other defaults stay stock).
_STOCK_OPTIONS: dict[str, dict[str, Any]] = {
    "server-root": {"metavar": "DIR"},
    "ctl": {"metavar": "PATH", "help": (
        "The nginx binary: an absolute path, or a name looked up in the PATH nginx itself "
        "runs with. (default: nginx)")},
    "sleep-seconds": {"default": None, "type": policy.parse_sleep_seconds,
                      "metavar": "SECONDS", "help": (
        "Whole seconds (0-3600) to wait after nginx has applied each reload, on top of "
        "watching it apply; where it cannot be watched (no /proc, no pid file), the wait "
        "after each reload. (default: none; 1 where nginx cannot be watched)")},
}


class CleanEnvConfigurator(StockConfigurator):
    """Nginx configurator whose nginx children never see Certbot's or a snap's variables."""

    description = ("Nginx Web Server plugin, running nginx with a clean environment "
                   "(no snap or Certbot variables) and a timeout")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Absolute path of nginx, resolved in prepare() against the child's PATH.
        self._ctl: str | None = None
        self._warned_kept: set[str] = set()
        self._warned_banner = False
        self._warned_slow = False
        #: The first child that hung in this run: later ones fail at once (see _run_argv).
        self._hung: runner.ChildTimeoutError | None = None
        self._banner = ""  # nginx -V, for compiled-in paths
        #: The seam every nginx child goes through (tests may record it).
        self.run_child: Callable[..., runner.ChildResult] = runner.run_nginx

    @classmethod
    def add_parser_arguments(cls, add: Callable[..., None]) -> None:
        """Declare the stock options and ours; Certbot prefixes them ``--cleanenv-nginx-``."""
        def stock(name: str, *args: Any, **kwargs: Any) -> None:
            kwargs.update(_STOCK_OPTIONS.get(name, {}))
            add(name, *args, **kwargs)

        super().add_parser_arguments(stock)
        add("env-policy", default="scrub", type=policy.parse_mode, metavar="{scrub,minimal,off}",
            help="How to build nginx's environment: 'scrub' removes snap and Certbot "
                 "variables, OpenSSL module settings and every path inside a snap; "
                 "'minimal' keeps only PATH, locale, TZ and --cleanenv-nginx-keep-env; "
                 "'off' passes everything (for diagnosis). (default: scrub)")
        add("keep-env", default=(), type=policy.parse_keep_env, metavar="NAME[,NAME...]",
            help="Comma-separated variables nginx always gets unchanged, overriding every "
                 "rule. (default: none)")
        add("drop-env", default=(), type=policy.parse_drop_env, metavar="NAME[,PREFIX*...]",
            help="Comma-separated variables nginx never gets; a trailing '*' matches a "
                 "prefix. (default: none)")
        add("timeout", default=policy.DEFAULT_TIMEOUT, type=policy.parse_timeout,
            metavar="SECONDS",
            help="Kill an nginx or systemctl command (and its process group) that runs "
                 "longer than this, and quote its last output; also bounds the wait for a "
                 "reload or start to take effect. (default: 60)")
        add("start", default="auto", type=start.parse_start_mode,
            metavar="{auto,systemd,direct,never}",
            help="How to start nginx when a reload finds it not running: 'systemd' runs "
                 "'systemctl start' on --cleanenv-nginx-unit (the daemon gets its unit's "
                 "environment and security context); 'direct' starts nginx itself, in the "
                 "clean environment; 'never' fails and says so; 'auto' is systemd when "
                 "systemd runs the host and has the unit, else direct. (default: auto)")
        add("unit", default=start.DEFAULT_UNIT, type=start.parse_unit, metavar="UNIT",
            help="The systemd unit that runs nginx. (default: nginx.service)")

    def conf(self, var: str) -> Any:
        """Read an option; ``ctl`` reads back as the absolute path found by prepare().

        Overriding the read, not the stored option, keeps the resolved path out of the
        renewal configuration.
        """
        if var == "ctl" and self._ctl is not None:
            return self._ctl
        return super().conf(var)

    def timeout(self) -> float:
        """The time limit for each nginx child, validated again like the policy."""
        return policy.parse_timeout(self.conf("timeout"))

    def sleep_seconds(self) -> float:
        """The margin the user set after each confirmed reload (0 when unset), validated."""
        value = self.conf("sleep-seconds")
        return 0 if value is None else policy.parse_sleep_seconds(value)

    def start_mode(self) -> start.StartMode:
        """How to start nginx when it is not running, validated again like the policy."""
        return start.parse_start_mode(self.conf("start"))

    def unit(self) -> str:
        """The systemd unit that runs nginx, validated again like the policy."""
        return start.parse_unit(self.conf("unit"))

    def env_policy(self) -> policy.EnvPolicy:
        """The policy our options describe (validated again: see policy_from_config)."""
        return policy.policy_from_config(self.conf)

    def child_env(self, env_policy: policy.EnvPolicy | None = None) -> environ.ChildEnv:
        """Compute nginx's environment from Certbot's current one."""
        child = environ.build_child_env(os.environ, env_policy or self.env_policy())
        for name in set(child.kept_in_snap) - self._warned_kept:
            logger.warning("%s points inside a snap but is kept for nginx because of "
                           "--cleanenv-nginx-keep-env", environ.printable_name(name))
            self._warned_kept.add(name)
        return child

    def prepare(self) -> None:
        """Resolve nginx in the child's PATH, then prepare as the stock plugin does."""
        try:  # renewal files can hold values argparse never saw (None, True, False)
            self.timeout()
            self.sleep_seconds()
            self.start_mode()
            self.unit()
            ctl = policy.parse_path(super().conf("ctl"), "--cleanenv-nginx-ctl")
            policy.parse_path(self.conf("server-root"), "--cleanenv-nginx-server-root")
            env = self.child_env().env
        except policy.OptionValueError as error:
            raise errors.PluginError(str(error)) from error
        self._ctl = runner.resolve_executable(ctl, env)
        self._warn_if_stock_authenticator()
        self._warn_about_ignored_renewal_keys()
        self._check_nginx_conf()
        super().prepare()

    def _check_nginx_conf(self) -> None:
        """Say what is wrong with nginx.conf; the stock plugin says "nginx is not installed"."""
        try:  # O_NONBLOCK: a FIFO named nginx.conf must not block us
            fd = os.open(self.nginx_conf, os.O_RDONLY | os.O_NONBLOCK)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise IsADirectoryError
            finally:
                os.close(fd)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise errors.MisconfigurationError(
                f"No nginx.conf in {self.conf('server-root')} (--cleanenv-nginx-server-root "
                "names nginx's configuration directory, e.g. /etc/nginx)") from None
        except OSError as error:  # permissions, a symlink loop, an I/O error
            raise errors.MisconfigurationError(
                f"Cannot read {self.nginx_conf}: {error.strerror or error}") from None

    @classmethod
    def option_names(cls) -> set[str]:
        """Our options (stock ones included) as renewal files spell them: ``server_root``."""
        names: set[str] = set()
        cls.add_parser_arguments(lambda name, *args, **kwargs: names.add(name.replace("-", "_")))
        return names

    def _warn_about_ignored_renewal_keys(self) -> None:
        """Warn, once per file, about renewal keys Certbot would silently drop for us."""
        directory = getattr(self.config, "renewal_configs_dir", None)
        if not directory or not os.path.isdir(directory):
            return
        known = self.option_names()
        for entry in sorted(os.listdir(directory)):
            path = os.path.join(directory, entry)
            if not entry.endswith(".conf") or path in _WARNED_RENEWAL_FILES:
                continue
            _WARNED_RENEWAL_FILES.add(path)
            try:
                params = configobj.ConfigObj(path, interpolation=False)["renewalparams"]
            except (OSError, ValueError, configobj.ConfigObjError, KeyError):
                continue  # Certbot reports files it cannot read
            if not isinstance(params, dict):
                continue
            for warning in renewal_check.renewal_warnings(params, known):
                logger.warning("%s: %s", path, warning)

    def _warn_if_stock_authenticator(self) -> None:
        """Warn when we install but the stock plugin authenticates.

        Its http-01 reload runs nginx with Certbot's own environment, the very thing
        this plugin exists to avoid.
        """
        config = self.config
        if getattr(config, "installer", None) == self.name and \
                getattr(config, "authenticator", None) == "nginx" and \
                not _WARNED_MIXED_PLUGINS:
            _WARNED_MIXED_PLUGINS.append(True)  # once per process: renew makes one per lineage
            logger.warning(
                "%s is the installer but the stock nginx plugin is the authenticator: its "
                "http-01 reload still runs nginx with Certbot's environment. Use "
                "-a %s -i %s (or --configurator %s).", self.name, self.name, self.name,
                self.name)

    def _run(self, *args: str) -> runner.ChildResult:
        """Run ``nginx -c <conf> ARGS`` through the runner with the clean environment."""
        return self._run_argv([self.conf("ctl"), "-c", self.nginx_conf, *args])

    def _run_argv(self, argv: list[str]) -> runner.ChildResult:
        """Run any child (nginx, systemctl) through the runner with the clean environment.

        Once a child has hung, the next ones in this run fail at once: Certbot's rollback
        reloads nginx again, and a second wait for the same hang would double the time an
        unattended renewal takes to fail (the files are rolled back all the same).
        """
        if self._hung is not None:
            raise runner.ChildTimeoutError(
                f"not running {' '.join(argv)}: nginx already hung once in this run "
                f"({self._hung})")
        env_policy = self.env_policy()
        child = self.child_env(env_policy)
        logger.debug("Running %s with env-policy %s; %s", " ".join(argv), env_policy.mode,
                     child.summary())
        try:
            return self.run_child(argv, child.env, timeout=self.timeout())
        except runner.ChildTimeoutError as error:
            self._hung = error
            raise

    def _systemctl(self, *args: str) -> runner.ChildResult:
        """Run ``systemctl ARGS``, found in the PATH the child gets, bounded like nginx."""
        systemctl = runner.resolve_executable(
            "systemctl", self.child_env().env,
            hint="install systemd's systemctl or choose another --cleanenv-nginx-start")
        return self._run_argv([systemctl, *args])

    def config_test(self) -> None:
        """``nginx -t`` in the clean environment.

        :raises .errors.MisconfigurationError: if the test fails or times out.
        """
        started = time.monotonic()
        result = self._run("-t")
        self._warn_if_slow(time.monotonic() - started)
        if result.returncode != 0:
            raise errors.MisconfigurationError(
                f"Error while running {result.command}.\n\n{result.output}")

    def _warn_if_slow(self, took: float) -> None:
        """Warn, once, when nginx reads its configuration in more than half the time limit.

        Every reload reads it twice (the signalling nginx, then the master), and a
        clean-up reload cut short by the limit leaves the challenge configuration in
        service, so the limit needs a margin the user can see coming.
        """
        limit = self.timeout()
        if took > limit / 2 and not self._warned_slow:
            self._warned_slow = True
            logger.warning("nginx needed %.*f s to read its configuration; "
                           "--cleanenv-nginx-timeout %g leaves little margin for a reload: "
                           "raise it", 1 if took >= 0.1 else 3, took, limit)

    def restart(self) -> None:
        """Reload nginx in the clean environment and wait until it has applied the change.

        If the reload fails, start nginx by the start policy and wait until it serves; not
        if a signal ended the reload (a second nginx would be started during a shutdown).

        :raises .errors.MisconfigurationError: if neither works, nginx rejects the new
            configuration, or a command or the wait runs out of time.
        """
        single = self._main_directives("master_process")[:1] == [["off"]]
        watch = reload.ReloadWatch.before_signal(  # no workers ever: do not wait for them
            self._pid_file(), self._error_log(), settle=0 if single else 1.0)
        reloaded = self._run("-s", "reload")
        if runner.ended_by_signal(reloaded.returncode):  # a crash, or a service stop
            raise errors.MisconfigurationError(
                f"{reloaded.command} was ended by a signal ({_status(reloaded)}): that does "
                "not say whether nginx runs, so Certbot did not start it (see systemctl "
                f"status {self.unit()})")
        if reloaded.returncode != 0:
            logger.debug("nginx reload failed:\n%s", reloaded.output)
            self._start(reloaded)
            self._confirm_started()
        else:
            self._confirm_reload(watch)
        extra = self.sleep_seconds()
        if extra:  # a margin the user tuned (or a renewal file carries) is kept
            time.sleep(extra)

    def _confirm_reload(self, watch: reload.ReloadWatch) -> None:
        if watch.why_not:
            self._blind_sleep(watch.why_not)
            return
        try:
            took = watch.wait(self.timeout())
        except reload.ReloadRejectedError as error:
            raise errors.MisconfigurationError(
                "nginx rejected the new configuration and still serves the old one: "
                f"{error}.{self._master_env_hint(str(error))}") from None
        except reload.NotAppliedError as error:
            raise errors.MisconfigurationError(str(error)) from None
        logger.debug("nginx applied the reload in %.3f s", took)

    def _master_env_hint(self, words: str) -> str:
        """The way out when the master's own environment is what rejects the reload.

        Our ``nginx -s reload`` had just read the same configuration in the clean
        environment, so when nginx's words are about loading a library, a provider or
        a path inside a snap, the master (which keeps the environment it was started
        with, for life) is the one that fails, and only a restart clears it.
        """
        if "/snap/" not in words and diagnose.diagnose(words).kind == "other":
            return ""
        return (" nginx -s reload read this configuration without trouble in the clean "
                "environment, so the running nginx master fails because of the environment "
                "it was started with (it keeps it for life): restart nginx through its "
                f"service manager (systemctl restart {self.unit()}).")

    def _confirm_started(self) -> None:
        if not os.path.isdir("/proc/self"):
            self._blind_sleep("no /proc to observe processes in")
            return
        try:
            took = reload.wait_until_serving(self._pid_file(), self._listen_address(),
                                             self.timeout())
        except reload.NotAppliedError as error:
            raise errors.MisconfigurationError(str(error)) from None
        logger.debug("nginx serves %.3f s after the start", took)

    def _blind_sleep(self, why: str) -> None:
        """Sleep as the stock plugin does, when nothing can be observed."""
        extra = self.sleep_seconds()
        seconds = 0 if extra else STOCK_SLEEP_SECONDS
        logger.debug("Cannot watch nginx apply its configuration (%s); sleeping %g s "
                     "instead", why, seconds or extra)
        if seconds:  # else restart() sleeps the user's sleep-seconds
            time.sleep(seconds)

    def _main_directives(self, name: str) -> list[list[str]]:
        """Every main-context ``name`` directive's arguments, includes followed as stock does."""
        return nginx_conf.main_directives(self.parser.parsed, self.nginx_conf, self.parser.root,
                                          name)

    def _pid_file(self) -> str:
        """The pid file: nginx's ``pid`` directive, else its compiled-in default."""
        named = self._main_directives("pid")
        path = named[0][0] if named and named[0] else \
            nginx_conf.compiled_option(self._banner, "pid-path") or "logs/nginx.pid"
        return nginx_conf.runtime_path(path, self._banner)

    def _error_log(self) -> str | None:
        """A file the master logs a rejected reload to: nginx logs to every ``error_log``."""
        named = self._main_directives("error_log")
        paths = [args[0] for args in named if args] or \
            [nginx_conf.compiled_option(self._banner, "error-log-path") or "logs/error.log"]
        for path in paths:
            if path != "stderr" and not path.startswith(("syslog:", "memory:")):
                return nginx_conf.runtime_path(path, self._banner)
        return None

    def _listen_address(self) -> tuple[str, int] | None:
        """A TCP address a server block listens on, to connect to after a start."""
        try:
            addresses = [addr for vhost in self.parser.get_vhosts() for addr in vhost.addrs]
        except errors.Error:
            return None
        for addr in addresses:
            port = str(addr.get_port() or "")
            host = str(addr.get_addr() or "").strip("[]")
            if not port.isdigit() or host.startswith("unix:"):
                continue
            if host in ("", "*", "0.0.0.0"):  # noqa: S104 - a wildcard we connect to, not bind
                host = "127.0.0.1"
            elif host == "::":
                host = "::1"
            return host, int(port)
        return None

    def _start(self, reload: runner.ChildResult) -> None:
        """Start nginx after a failed reload, the way ``--cleanenv-nginx-start`` says."""
        mode = self.start_mode()
        booted = start.systemd_booted()
        loaded = mode == "auto" and booted and self._unit_loaded()
        path = start.choose_start(mode, systemd_booted=booted, unit_loaded=loaded)
        logger.debug("--cleanenv-nginx-start %s: systemd runs the host: %s; %s loaded: %s; "
                     "starting: %s", mode, booted, self.unit(), loaded, path)
        failure = (f"{reload.command} failed ({_status(reload)})"
                   + (f": {runner.last_lines(reload.output)}" if reload.output.strip() else ""))
        if path == "never":
            raise errors.MisconfigurationError(
                f"{failure}. Certbot did not start nginx (--cleanenv-nginx-start never): if "
                f"nginx is not running, start it with systemctl start {self.unit()} (or your "
                "service manager) and run Certbot again")
        if path == "systemd":
            self._start_with_systemd(failure)
            return
        self._start_directly(failure)

    def _unit_loaded(self) -> bool:
        """Whether systemd knows the unit (asked only when a start is due)."""
        try:
            shown = self._systemctl("show", "--property=LoadState", "--value", self.unit())
        except errors.NoInstallationError:
            return False
        return shown.returncode == 0 and start.unit_is_loaded(shown.output)

    def _start_with_systemd(self, failure: str) -> None:
        unit = self.unit()
        if self._systemctl("is-active", "--quiet", unit).returncode == 0:
            raise errors.MisconfigurationError(  # running: a start would do nothing
                f"{failure}; {unit} is active, so nginx runs but did not take the new "
                "configuration")
        logger.info("nginx was not running (%s); starting it with systemctl start %s",
                    failure, unit)
        started = self._systemctl("start", unit)
        if started.returncode != 0:
            raise errors.MisconfigurationError(
                f"nginx restart failed: systemctl start {unit} ({_status(started)}): "
                f"{runner.last_lines(started.output)}; see journalctl -u {unit}")

    def _start_directly(self, failure: str) -> None:
        if start.sets_daemon_off(self.parser.parsed, self.nginx_conf,
                                 self.parser.root):
            raise errors.MisconfigurationError(
                f"{failure}. Certbot will not start nginx itself: {self.nginx_conf} says "
                "'daemon off;', so nginx would stay in the foreground. Start it with its "
                "service manager, or use --cleanenv-nginx-start systemd")
        logger.info("nginx reload failed (%s); starting nginx directly: %s -c %s", failure,
                    self.conf("ctl"), self.nginx_conf)
        started = self._run()
        if started.returncode != 0:
            raise errors.MisconfigurationError(
                f"nginx restart failed: {failure}; then {started.command} ({_status(started)})"
                + (f": {runner.last_lines(started.output)}" if started.output.strip() else ""))

    def _nginx_version(self) -> str:
        """``nginx -V`` in the clean environment, made readable for the stock parser.

        Both streams are read, as builds differ; an odd banner (Tengine, no version
        digits, a wrapper's own lines) gets a warning, once, instead of a failure.
        """
        probe = self._run("-V")
        if probe.returncode != 0:
            raise errors.PluginError(
                f"{probe.command} failed ({_status(probe)}): {runner.last_lines(probe.output)}")
        read = banner.normalise_banner(probe.output)
        self._banner = probe.output
        if read.warning and not self._warned_banner:
            logger.warning("%s", read.warning)
            self._warned_banner = True
        return read.text

    def save(self, title: str | None = None, temporary: bool = False) -> None:
        """Save as stock, then check that every changed file is on disk in full.

        The stock parser logs a failed write (disk full, read-only file system) and
        carries on, leaving a truncated file behind; an error here instead makes
        Certbot roll the change back from its checkpoint.

        :raises .errors.PluginError: naming the file that was not written.
        """
        super().save(title, temporary)
        dumps = stock_module("nginxparser").dumps
        for filename, tree in self.parser.parsed.items():
            if not tree.is_dirty():
                continue
            try:
                with open(filename, encoding="utf-8") as written:
                    complete = written.read() == dumps(tree)
            except (OSError, UnicodeDecodeError) as error:
                raise errors.PluginError(f"Could not read back {filename}: {error}") from error
            if not complete:
                raise errors.PluginError(
                    f"Could not write {filename} in full (disk full or read-only?); "
                    "the change is rolled back")

    def policy_summary(self) -> str:
        """The active policy and what it would change right now, with reasons, names only."""
        env_policy = self.env_policy()
        child = self.child_env(env_policy)
        changes = child.summary() if child.changes else "nothing"
        margin = self.sleep_seconds()
        return (f"env-policy {env_policy.mode}; would change now: {changes}; "
                f"nginx commands time out after {self.timeout():g} s; reloads are confirmed"
                + (f", then {margin:g} s more" if margin else ""))

    def more_info(self) -> str:
        """Stock details plus our policy (the plugin API's description of a prepared plugin)."""
        return f"{super().more_info()}{os.linesep}Clean environment: {self.policy_summary()}"

    def __str__(self) -> str:
        """Shown by ``certbot plugins --init`` as "Initialized: ...", before prepare()."""
        try:
            return f"cleanenv-nginx: {self.policy_summary()}"
        except policy.OptionValueError as error:
            return f"cleanenv-nginx: invalid option: {error}"


def _status(result: runner.ChildResult) -> str:
    """``exit status N`` or ``killed by SIGNAME``: how a child ended, for error messages."""
    if result.returncode < 0:
        try:
            return f"killed by {signal.Signals(-result.returncode).name}"
        except ValueError:
            return f"killed by signal {-result.returncode}"
    return f"exit status {result.returncode}"
