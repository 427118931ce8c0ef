"""Find Certbot's stock Nginx configurator, wherever this Certbot keeps it.

Up to 5.4.x it is ``certbot_nginx._internal.configurator.NginxConfigurator``; from
5.5.0 it lives in Certbot itself and ``certbot-nginx`` only holds the ``nginx`` entry
point. Loading that entry point finds the class in both layouts, without naming
private modules.
"""
from __future__ import annotations

import importlib
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["StockConfigurator", "load_stock_configurator", "stock_module"]

STOCK_ENTRY_POINT = "nginx"
ENTRY_POINT_GROUP = "certbot.plugins"


def load_stock_configurator() -> type:
    """Return the class behind Certbot's ``nginx`` plugin entry point.

    :raises ImportError: if no ``nginx`` plugin is installed (certbot-nginx missing).
    """
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == STOCK_ENTRY_POINT:
            loaded = entry_point.load()
            if isinstance(loaded, type):
                return loaded
    try:  # an install without metadata (e.g. vendored); try both known homes
        from certbot.plugins.nginx import ENTRYPOINT  # type: ignore[import-not-found,unused-ignore]
        return ENTRYPOINT  # type: ignore[no-any-return,unused-ignore]
    except ImportError:
        pass
    try:
        from certbot_nginx._internal.configurator import (  # type: ignore[import-not-found,unused-ignore]
            NginxConfigurator,
        )
    except ImportError as error:
        raise ImportError(
            "certbot-cleanenv needs Certbot's Nginx plugin: install certbot-nginx "
            "next to certbot") from error
    return NginxConfigurator  # type: ignore[no-any-return,unused-ignore]


def stock_module(name: str) -> ModuleType:
    """A module beside the stock configurator (e.g. ``nginxparser``), in either layout."""
    package = StockConfigurator.__module__.rsplit(".", 1)[0]
    return importlib.import_module(f"{package}.{name}")


if TYPE_CHECKING:  # type-check against the layout installed in the dev venv (>= 5.5)
    from certbot._internal.plugins.nginx.configurator import NginxConfigurator as StockConfigurator
else:
    StockConfigurator = load_stock_configurator()
