"""Make ``nginx -V`` output readable for the stock version parser, tolerantly.

The stock plugin expects a line ``nginx version: NAME/1.2.3`` and fails ("Unable to
find Nginx version") or crashes (``int('')``) on anything else: Tengine's
``Tengine version: Tengine/2.3.3 (nginx/1.18.0)``, a build without version digits, a
wrapper script that adds its own lines. We find the version where we can, else assume
one, and hand the stock parser a banner it reads, with a warning for the user.
"""
from __future__ import annotations

import re
from typing import NamedTuple

#: What the stock get_version() looks for, and what it can convert.
_STOCK_LINE = re.compile(r"nginx version: ([^/]+)/([0-9\.]*)", re.IGNORECASE)
_DIGITS = re.compile(r"\d+(?:\.\d+)*\Z")
#: An nginx version anywhere, e.g. Tengine's "(nginx/1.18.0)" or a wrapper's echo.
_ANYWHERE = re.compile(r"\bnginx/(\d+(?:\.\d+)*)", re.IGNORECASE)

#: Assumed when no version can be found: the oldest nginx for which Certbot writes its
#: current TLS settings (TLSv1.3, session tickets, OCSP stapling); an older nginx rejects
#: them at ``nginx -t`` and Certbot rolls the change back.
ASSUMED_VERSION = "1.13.0"


class Banner(NamedTuple):
    """The banner to give the stock parser, and what to warn about (empty: nothing)."""

    text: str
    warning: str = ""


def normalise_banner(text: str) -> Banner:
    """Return ``text`` as is when the stock parser reads it, else with a version line first."""
    stock = _STOCK_LINE.search(text)
    if stock and _DIGITS.match(stock.group(2)):
        return Banner(text)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    found = _ANYWHERE.search(text)
    if found:
        version = found.group(1)
        warning = (f"nginx -V did not print 'nginx version: nginx/X.Y.Z' (first line: "
                   f"{first_line!r}); using version {version} found in its output")
    else:
        version = ASSUMED_VERSION
        warning = (f"nginx -V printed no version number (first line: {first_line!r}); "
                   f"assuming nginx {version}")
    return Banner(f"nginx version: nginx/{version}\n{text}", warning)
