"""Benchmark 3: issuing against an nginx whose reload takes longer than the stock sleep.

The site gets one more TLS server whose key is encrypted with PBKDF2 at an iteration
count calibrated here so that nginx needs about ``--seconds`` (default 1.5) to read its
configuration: a stand-in for a big configuration with many certificates. The stock
plugin sleeps 1 s after signalling the reload and then lets Pebble validate, while the
old workers still serve the old configuration; cleanenv-nginx waits until the new one is
in service. Ten issuances (``certonly``, fresh names, fresh authorizations) with each
plugin at default settings. Target: 10/10 for ours; stock's count is reported.

    python -m benchmarks.slow_reload [--issuances N] [--seconds S]
"""
from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from benchmarks.common import CLEAN_ENV, certbot, heading, lab, save
from tests.fixtures import net, pki
from tests.fixtures.certbot import Certbot
from tests.fixtures.nginx import NginxSite, nginx_binary

PLUGINS = {"stock": "nginx", "ours": "cleanenv-nginx"}
SLOW_SERVER = """\
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name slow-key.example.test;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_password_file {password};
    }}
"""


def slow_key(directory: Path, iterations: int) -> tuple[Path, Path, Path]:
    """A certificate whose key takes ``iterations`` rounds of PBKDF2 to decrypt."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, plain = pki.self_signed(directory, "slow-plain", "slow-key.example.test")
    password = directory / "pass.txt"
    password.write_text("cleanenv-bench\n")
    key = directory / "slow.key"
    subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-iter", str(iterations),
                    "-in", str(plain), "-passout", f"file:{password}", "-out", str(key)],
                   check=True, capture_output=True)
    plain.unlink()
    return cert, key, password


def config_read_time(site: NginxSite) -> float:
    """Seconds ``nginx -t`` needs: the time nginx needs to read this configuration."""
    started = time.monotonic()
    subprocess.run([str(nginx_binary()), "-t", "-c", str(site.conf)], env=site.base_env(),
                   check=True, capture_output=True, timeout=120)
    return time.monotonic() - started


def slow_site(work: Path, http_port: int, seconds: float) -> tuple[NginxSite, float]:
    """A site whose configuration takes about ``seconds`` to read; (site, measured seconds)."""
    site = NginxSite(work / "nginx", http_port=http_port)
    # the issued names are served by the site's loopback server, as a real site's would be
    plain = site.conf.read_text().replace(f"server_name {site.domain};",
                                          f"server_name {site.domain} *.example.test;", 1)
    iterations = 200_000
    while True:
        cert, key, password = slow_key(work / "slow-key", iterations)
        site.conf.write_text(plain[:plain.rstrip().rindex("}")] + SLOW_SERVER.format(
            port=net.free_port(), cert=cert, key=key, password=password) + "}\n")
        took = config_read_time(site)
        if took >= seconds:
            return site, took
        iterations = int(iterations * max(1.2, seconds * 1.1 / max(took, 0.01)))


def issue(bot: Certbot, site: NginxSite, plugin: str, name: str) -> tuple[bool, float, str]:
    """``certbot certonly`` for ``name`` through ``plugin``; (issued, seconds, why not)."""
    prefix = plugin.replace("_", "-")
    started = time.monotonic()
    result = bot.run("certonly", "-a", plugin, "--agree-tos", "-m", "admin@example.org",
                     "--no-verify-ssl", "--server", bot.pebble.directory_url,
                     "--http-01-port", str(site.http_port), f"--{prefix}-server-root",
                     str(site.root), "-d", name, env=CLEAN_ENV)
    took = time.monotonic() - started
    why = next((line.strip() for line in result.stdout.splitlines() + result.stderr.splitlines()
                if "Detail:" in line or "Error" in line), "")
    return result.returncode == 0, took, why


def main() -> None:
    """Calibrate the slow site, then issue alternately with each plugin and count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuances", type=int, default=10, help="per plugin (default 10)")
    parser.add_argument("--seconds", type=float, default=1.5,
                        help="how long nginx should take to read its config (default 1.5)")
    args = parser.parse_args()
    heading(f"issuance with a slow reload, {args.issuances} per plugin at default settings")
    with lab("slow") as (work, pebble):
        site, took = slow_site(work, pebble.http_port, args.seconds)
        print(f"nginx reads this configuration in {took:.2f} s (nginx -t)", flush=True)
        site.start()
        try:
            bot = certbot(work, pebble)
            issued: dict[str, list[bool]] = {who: [] for who in PLUGINS}
            times: dict[str, list[float]] = {who: [] for who in PLUGINS}
            for n in range(args.issuances):
                for who, plugin in PLUGINS.items():
                    ok, seconds, why = issue(bot, site, plugin, f"{who}{n}.example.test")
                    issued[who].append(ok)
                    times[who].append(seconds)
                    print(f"{who} #{n + 1}: {'issued' if ok else 'FAILED'} in {seconds:.1f} s"
                          + ("" if ok else f" ({why[:160]})"), flush=True)
        finally:
            site.stop()
    counts = {who: sum(oks) for who, oks in issued.items()}
    for who, plugin in PLUGINS.items():
        print(f"{plugin:>15}: {counts[who]}/{args.issuances} issued")
    save("slow_reload", {"config_read_s": took, "issued": counts, "times_s": times,
                         "issuances": args.issuances})


if __name__ == "__main__":
    main()
