"""Diagnosis of nginx's output: one row per kind of failure users actually see."""
from __future__ import annotations

import pytest

from certbot_cleanenv.diagnose import diagnose

RHEL_FIPS = ("nginx: [emerg] SSL_CTX_new() failed (SSL: error:12800067:DSO support routines::"
             "could not load the shared library:filename(/snap/certbot/4412/usr/lib/x86_64-linux"
             "-gnu/ossl-modules/fips.so) error:07880025:common libcrypto routines::reason(524325)"
             ":name=fips) OPENSSL_init_ssl() failed")
DES_KEY = ('[emerg] cannot load certificate key "/etc/nginx/des.key": PEM_read_bio_PrivateKey() '
           "failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data)")


@pytest.mark.parametrize(("output", "kind"), [
    (RHEL_FIPS, "openssl-provider"),
    (DES_KEY, "openssl-provider"),
    ("nginx: [emerg] OPENSSL_init_ssl() failed", "openssl-provider"),
    ("nginx: symbol lookup error: /snap/core24/current/lib/libssl.so.3: undefined symbol: X",
     "dso-symbol"),
    ("nginx: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found", "dso-symbol"),
    ("nginx: error while loading shared libraries: libpcre2-8.so.0: cannot open shared "
     "object file: No such file or directory", "missing-library"),
    ('nginx: [emerg] unknown directive "bogus"', "other"),
    ("", "other"),
])
def test_kinds(output: str, kind: str) -> None:
    result = diagnose(output)
    assert result.kind == kind
    assert "cleanenv-nginx" in result.fix
