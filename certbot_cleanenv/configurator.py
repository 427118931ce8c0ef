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
import time
from collections.abc import Callable
from typing import Any

from certbot import errors

from certbot_cleanenv import environ, policy, runner
from certbot_cleanenv._compat import StockConfigurator

logger = logging.getLogger(__name__)


class CleanEnvConfigurator(StockConfigurator):
    """Nginx configurator whose nginx children never see Certbot's or a snap's variables."""

    description = ("Nginx Web Server plugin, running nginx with a clean environment "
                   "(no snap or Certbot variables) and a timeout")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Absolute path of nginx, resolved in prepare() against the child's PATH.
        self._ctl: str | None = None
        self._warned_kept: set[str] = set()
        #: The seam every nginx child goes through (tests may record it).
        self.run_child: Callable[..., runner.ChildResult] = runner.run_nginx

    @classmethod
    def add_parser_arguments(cls, add: Callable[..., None]) -> None:
        """Declare the stock options and ours; Certbot prefixes them ``--cleanenv-nginx-``."""
        super().add_parser_arguments(add)
        add("env-policy", default="scrub", type=policy.parse_mode, metavar="{scrub,minimal,off}",
            help="How to build nginx's environment: 'scrub' removes snap and Certbot "
                 "variables, OpenSSL module settings and every path inside a snap; "
                 "'minimal' keeps only PATH, locale, TZ and --cleanenv-nginx-keep-env; "
                 "'off' passes everything (for diagnosis). (default: scrub)")
        add("keep-env", default=(), type=policy.parse_keep_env, metavar="NAME[,NAME...]",
            help="Variables nginx always gets unchanged, overriding every rule. (default: none)")
        add("drop-env", default=(), type=policy.parse_drop_env, metavar="NAME[,PREFIX*...]",
            help="Variables nginx never gets; a trailing '*' matches a prefix. (default: none)")
        add("timeout", default=policy.DEFAULT_TIMEOUT, type=policy.parse_timeout,
            metavar="SECONDS",
            help="Kill an nginx command (and its process group) that runs longer than "
                 "this. (default: 60)")

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
            env = self.child_env().env
        except policy.OptionValueError as error:
            raise errors.PluginError(str(error)) from error
        self._ctl = runner.resolve_executable(super().conf("ctl"), env)
        self._warn_if_stock_authenticator()
        super().prepare()

    def _warn_if_stock_authenticator(self) -> None:
        """Warn when we install but the stock plugin authenticates.

        Its http-01 reload runs nginx with Certbot's own environment, the very thing
        this plugin exists to avoid.
        """
        config = self.config
        if getattr(config, "installer", None) == self.name and \
                getattr(config, "authenticator", None) == "nginx":
            logger.warning(
                "%s is the installer but the stock nginx plugin is the authenticator: its "
                "http-01 reload still runs nginx with Certbot's environment. Use "
                "-a %s -i %s (or --configurator %s).", self.name, self.name, self.name,
                self.name)

    def _run(self, *args: str) -> runner.ChildResult:
        """Run ``nginx -c <conf> ARGS`` through the runner with the clean environment."""
        env_policy = self.env_policy()
        child = self.child_env(env_policy)
        argv = [self.conf("ctl"), "-c", self.nginx_conf, *args]
        logger.debug("Running %s with env-policy %s; %s", " ".join(argv), env_policy.mode,
                     child.summary())
        return self.run_child(argv, child.env, timeout=self.timeout())

    def config_test(self) -> None:
        """``nginx -t`` in the clean environment.

        :raises .errors.MisconfigurationError: if the test fails or times out.
        """
        result = self._run("-t")
        if result.returncode != 0:
            raise errors.MisconfigurationError(
                f"Error while running {result.command}.\n\n{result.output}")

    def restart(self) -> None:
        """Reload nginx, or start it if the reload fails (as stock), in the clean environment.

        :raises .errors.MisconfigurationError: if neither works, or a command times out.
        """
        reload = self._run("-s", "reload")
        if reload.returncode != 0:
            logger.debug("nginx reload failed:\n%s", reload.output)
            start = self._run()
            if start.returncode != 0:
                raise errors.MisconfigurationError(f"nginx restart failed:\n{start.output}")
        # Stock behaviour, kept until reload confirmation lands: nginx has applied the
        # new configuration only some time after the signal.
        sleep_seconds = self.conf("sleep-seconds")
        if sleep_seconds > 0:
            time.sleep(sleep_seconds)

    def _nginx_version(self) -> str:
        """``nginx -V`` in the clean environment (stdout and stderr, as nginx may use either)."""
        return self._run("-V").output

    def policy_summary(self) -> str:
        """The active policy and what it would remove right now, names only."""
        env_policy = self.env_policy()
        removed = ", ".join(map(environ.printable_name, self.child_env(env_policy).removed))
        return (f"env-policy {env_policy.mode}; would remove now: {removed or 'nothing'}; "
                f"nginx commands time out after {self.timeout():g} s")

    def more_info(self) -> str:
        """Stock details plus our policy (the plugin API's description of a prepared plugin)."""
        return f"{super().more_info()}{os.linesep}Clean environment: {self.policy_summary()}"

    def __str__(self) -> str:
        """Shown by ``certbot plugins --init`` as "Initialized: ...", before prepare()."""
        try:
            return f"cleanenv-nginx: {self.policy_summary()}"
        except policy.OptionValueError as error:
            return f"cleanenv-nginx: invalid option: {error}"
