"""Read nginx's error output and say, in plain words, why the environment broke it.

Pure: text in, a :class:`Diagnosis` out. Keyed to what nginx and the dynamic loader
actually print when a variable meant for the snap's libraries reaches a host nginx.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FIX = ("Run nginx through cleanenv-nginx: certbot reconfigure --cert-name NAME "
       "-a cleanenv-nginx -i cleanenv-nginx (or certbot-cleanenv migrate --all).")


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong (``kind``), why in plain words, and the fix."""

    kind: str
    explanation: str
    fix: str = FIX


#: (kind, pattern, explanation), most specific first.
_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("openssl-provider",
     re.compile(r"OPENSSL_init_ssl\(\) failed|ossl-modules|fips\.so|provider"
                r"|PEM_read_bio_PrivateKey\(\) failed.*unsupported", re.IGNORECASE),
     "nginx's OpenSSL could not load a provider or module it needs: the inherited "
     "environment (OPENSSL_MODULES, OPENSSL_CONF or OPENSSL_FORCE_FIPS_MODE) sent it to "
     "look inside the snap, where the host's providers are not."),
    ("dso-symbol",
     re.compile(r"symbol lookup error|undefined symbol|version `[A-Z_]+[0-9.]*' not found"
                r"|no version information available"),
     "nginx loaded a shared library built for another system: LD_LIBRARY_PATH or "
     "LD_PRELOAD from Certbot's environment points at the snap's copies."),
    ("missing-library",
     re.compile(r"error while loading shared libraries|cannot open shared object file"),
     "nginx could not find a shared library where the inherited environment told the "
     "loader to look."),
)


def diagnose(output: str) -> Diagnosis:
    """Classify nginx's output from a run that failed with the inherited environment."""
    for kind, pattern, explanation in _RULES:
        if pattern.search(output):
            return Diagnosis(kind, explanation)
    return Diagnosis("other", "nginx failed with the inherited environment and works "
                              "without it; see nginx's own words above.")
