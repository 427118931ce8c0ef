"""Upstream drift guard: fail when the stock plugin starts a child process we do not route.

cleanenv-nginx overrides the stock methods that start nginx (some of them private). If a
Certbot release adds a call site, renames one of those methods or moves a call, this
fails and names the place, instead of nginx silently getting Certbot's environment again.
"""
from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import pytest

from certbot_cleanenv import _compat
from certbot_cleanenv.configurator import CleanEnvConfigurator

#: Calls that start a process, by their last name, whatever module or alias they come through
#: (``subprocess.run``, ``certbot.util.run_script``, a bare ``run_script``, ``os.execvpe``).
CHILD_NAMES = frozenset({
    "Popen", "check_call", "check_output", "getoutput", "getstatusoutput", "run_script",
    "system", "popen", "nginx_restart",
})
CHILD_PREFIXES = ("exec", "spawn", "posix_spawn")
#: Names too common to flag anywhere: only as ``subprocess.NAME`` or bare.
SUBPROCESS_ONLY = frozenset({"run", "call"})


def starts_child(func: ast.expr) -> bool:
    """Whether a call of ``func`` starts a process, judged by its spelling."""
    dotted = ast.unparse(func)
    *prefix, name = dotted.split(".")
    if name in CHILD_NAMES or name.startswith(CHILD_PREFIXES):
        return True
    return name in SUBPROCESS_ONLY and (not prefix or prefix[-1] == "subprocess")


#: Where the stock configurator starts nginx, and which of our methods replaces each.
ROUTED = {
    "NginxConfigurator.config_test": "config_test",
    "NginxConfigurator._nginx_version": "_nginx_version",
    "NginxConfigurator.restart": "restart",
    "nginx_restart": "restart",  # module function, reached only through restart()
}


def child_call_sites(source: str) -> dict[str, set[str]]:
    """Map each function (``Class.method`` or ``function``) to the child-process calls in it."""
    sites: dict[str, set[str]] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, child.name)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{scope}.{child.name}" if scope else child.name
                calls = {ast.unparse(call.func) for call in ast.walk(child)
                         if isinstance(call, ast.Call) and starts_child(call.func)}
                if calls:
                    sites[name] = calls
                visit(child, scope)
            else:
                visit(child, scope)

    visit(ast.parse(source), "")
    return sites


def unrouted(source: str) -> list[str]:
    """Call sites in ``source`` that no override of ours covers, as readable lines."""
    problems = []
    for site, calls in sorted(child_call_sites(source).items()):
        ours = ROUTED.get(site)
        if ours is None or ours not in vars(CleanEnvConfigurator):
            problems.append(f"{site} starts a child ({', '.join(sorted(calls))}) "
                            "that cleanenv-nginx does not route")
    return problems


def stock_sources() -> dict[str, str]:
    """Source of every module of the installed stock Nginx plugin package."""
    stock = _compat.load_stock_configurator()
    package = Path(inspect.getfile(stock)).parent
    return {path.name: path.read_text() for path in sorted(package.glob("*.py"))}


def test_every_stock_child_process_is_routed() -> None:
    sources = stock_sources()
    assert unrouted(sources["configurator.py"]) == []
    others = {name: child_call_sites(text) for name, text in sources.items()
              if name != "configurator.py"}
    assert {name: sites for name, sites in others.items() if sites} == {}


def test_expected_call_sites_still_exist() -> None:
    """A renamed or removed stock method would leave our override dead."""
    found = child_call_sites(stock_sources()["configurator.py"])
    assert set(found) == set(ROUTED), sorted(found)


def test_our_overrides_exist_upstream() -> None:
    stock = _compat.load_stock_configurator()
    for name in ("prepare", "config_test", "restart", "_nginx_version", "more_info",
                 "add_parser_arguments"):
        assert name in vars(CleanEnvConfigurator)
        assert callable(getattr(stock, name, None)), f"stock {stock.__name__}.{name} is gone"


@pytest.mark.parametrize(("patch", "reported"), [
    ("    def stop(self) -> None:\n        subprocess.run(['nginx', '-s', 'stop'])\n",
     "NginxConfigurator.stop starts a child (subprocess.run)"),
    ("    def check_config(self) -> None:\n        util.run_script(['nginx', '-t'])\n",
     "NginxConfigurator.check_config starts a child (util.run_script)"),
    ("    def a(self) -> None:\n        certbot.util.run_script(['nginx', '-t'])\n",
     "NginxConfigurator.a starts a child (certbot.util.run_script)"),
    ("    def b(self) -> None:\n        run_script(['nginx', '-t'])\n",
     "NginxConfigurator.b starts a child (run_script)"),
    ("    def c(self) -> None:\n        subprocess.getoutput('nginx -V')\n",
     "NginxConfigurator.c starts a child (subprocess.getoutput)"),
    ("    def d(self) -> None:\n        os.execvpe('nginx', ['nginx'], {})\n",
     "NginxConfigurator.d starts a child (os.execvpe)"),
    ("    def e(self) -> None:\n        sp.run(['nginx'])\n",
     None),  # an alias of subprocess under another name: see below
    ("    def f(self) -> None:\n        run(['nginx'])\n",
     "NginxConfigurator.f starts a child (run)"),
])
def test_guard_fails_on_a_modified_stock_module(patch: str, reported: str | None) -> None:
    """What the guard says when Certbot adds a call site we do not route.

    ``sp.run`` (subprocess imported under another name) is the one spelling it misses:
    ``run`` is too common a method name to flag on any object. The stock module imports
    subprocess by its name.
    """
    source = stock_sources()["configurator.py"]
    anchor = "    def restart(self) -> None:\n"
    assert anchor in source
    modified = source.replace(anchor, patch + "\n" + anchor)
    if reported is None:
        assert unrouted(modified) == unrouted(source)
    else:
        assert any(reported in line for line in unrouted(modified))


def test_stock_imports_subprocess_by_its_name() -> None:
    """What keeps the one blind spot above closed."""
    tree = ast.parse(stock_sources()["configurator.py"])
    aliases = [alias for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
               for alias in node.names
               if alias.name == "subprocess" or getattr(node, "module", "") == "subprocess"]
    assert all(alias.asname is None and alias.name == "subprocess" for alias in aliases)


def test_guard_fails_when_a_routed_method_is_renamed() -> None:
    source = stock_sources()["configurator.py"].replace(
        "def _nginx_version(self)", "def _nginx_version_text(self)")
    assert any("_nginx_version_text" in line for line in unrouted(source))


if __name__ == "__main__":  # pragma: no cover - a quick look at the installed Certbot
    print("\n".join(unrouted(stock_sources()["configurator.py"])) or "all routed")
    sys.exit(0)
