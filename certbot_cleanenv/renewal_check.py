"""Spot renewal-configuration keys that Certbot would silently ignore for cleanenv-nginx.

Certbot restores only ``<plugin>_<option>`` keys of the plugins a lineage names, with
underscores. So a stock ``nginx_server_root`` left next to ``installer = cleanenv-nginx``
(a hand edit, or a half-done migration), a dashed ``cleanenv-nginx-ctl``, or a misspelt
option are dropped without a word, and renewal quietly runs with defaults. We say so.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping

from certbot_cleanenv.migrate import OUR_PREFIX, OURS, STOCK, STOCK_PREFIX


def renewal_warnings(params: Mapping[str, object], known: Collection[str]) -> list[str]:
    """Warnings for the ``[renewalparams]`` of one lineage (``known``: our option names, ``a_b``).

    Pure: a mapping in, sentences out; nothing when the lineage does not use cleanenv-nginx.
    """
    plugins = {params.get("authenticator"), params.get("installer")}
    if OURS not in plugins:
        return []
    warnings = []
    for key in params:
        underscored = key.replace("-", "_")
        if key.startswith(STOCK_PREFIX) and STOCK not in plugins:
            warnings.append(
                f"{key} is an option of the stock nginx plugin, which this lineage no longer "
                f"uses, so it is ignored: rename it {OUR_PREFIX}{key[len(STOCK_PREFIX):]}")
        elif underscored.startswith(OUR_PREFIX) and "-" in key:
            warnings.append(f"{key} is never read (Certbot's renewal keys use underscores): "
                            f"rename it {underscored}")
        elif key.startswith(OUR_PREFIX) and key[len(OUR_PREFIX):] not in known:
            warnings.append(f"{key} is not an option of cleanenv-nginx and is ignored")
    return warnings
