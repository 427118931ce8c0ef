"""Benchmark 1: ``certbot renew --force-renewal``, stock plugin against cleanenv-nginx.

Pebble (fresh authorizations every time: ``PEBBLE_AUTHZREUSE=0``) and nginx on loopback,
Certbot in a clean environment so the stock plugin works too. Two lineages for the same
site, one per plugin, renewed alternately (the order swaps every round). The *floor* is
what the stock run would take without its blind sleeps: its time minus the reloads nginx
logged for it times ``--nginx-sleep-seconds`` (1 s). Target: ours - floor <= 0.5 s.

    python -m benchmarks.renew [--rounds N]
"""
from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.common import CLEAN_ENV, STOCK_SLEEP, certbot, heading, lab, reloads_in, save
from tests.fixtures.certbot import Certbot
from tests.fixtures.nginx import NginxSite

PLUGINS = {"stock": "nginx", "ours": "cleanenv-nginx"}
TARGET = 0.5


def renew_once(bot: Certbot, site: NginxSite, lineage: str) -> tuple[float, int]:
    """Renew ``lineage``; the wall time and the reloads nginx received meanwhile."""
    since = site.error_log.stat().st_size
    started = time.monotonic()
    result = bot.renew(CLEAN_ENV, "--cert-name", lineage)
    took = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"renew of {lineage} failed:\n{result.stderr[-2000:]}")
    return took, reloads_in(site.error_log, since)


def main() -> None:
    """Issue one lineage per plugin, then renew them alternately and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="renewals per plugin (default 7)")
    rounds = parser.parse_args().rounds
    heading(f"certbot renew --force-renewal, stock vs cleanenv-nginx, {rounds} rounds each")
    with lab("renew") as (work, pebble):
        site = NginxSite(work / "nginx", http_port=pebble.http_port)
        site.start()
        try:
            bot = certbot(work, pebble)
            for who, plugin in PLUGINS.items():
                issued = bot.issue(site, CLEAN_ENV, plugin, "--cert-name", who)
                if issued.returncode != 0:
                    raise SystemExit(f"issuing with {plugin} failed:\n{issued.stderr[-2000:]}")
            times: dict[str, list[float]] = {who: [] for who in PLUGINS}
            reloads: dict[str, list[int]] = {who: [] for who in PLUGINS}
            for round_ in range(rounds):
                order = list(PLUGINS) if round_ % 2 == 0 else list(reversed(PLUGINS))
                for who in order:
                    took, count = renew_once(bot, site, who)
                    times[who].append(took)
                    reloads[who].append(count)
                print(f"round {round_ + 1}: stock {times['stock'][-1]:.2f} s "
                      f"({reloads['stock'][-1]} reloads), ours {times['ours'][-1]:.2f} s "
                      f"({reloads['ours'][-1]} reloads)", flush=True)
        finally:
            site.stop()
    floors = [t - n * STOCK_SLEEP for t, n in zip(times["stock"], reloads["stock"], strict=True)]
    stock, ours, floor = (statistics.median(s) for s in (times["stock"], times["ours"], floors))
    print(f"stock median {stock:.2f} s (reloads per renewal: {sorted(set(reloads['stock']))})")
    print(f"ours  median {ours:.2f} s (reloads per renewal: {sorted(set(reloads['ours']))})")
    print(f"floor median {floor:.2f} s (stock minus {STOCK_SLEEP:g} s per reload)")
    verdict = "met" if ours - floor <= TARGET else "MISSED"
    print(f"ours - floor = {ours - floor:+.2f} s per renewal (target <= {TARGET} s: {verdict}); "
          f"ours/stock = {ours / stock:.2f}")
    save("renew", {"rounds": rounds, "stock_s": times["stock"], "ours_s": times["ours"],
                   "stock_reloads": reloads["stock"], "ours_reloads": reloads["ours"],
                   "median_stock_s": stock, "median_ours_s": ours, "median_floor_s": floor})


if __name__ == "__main__":
    main()
