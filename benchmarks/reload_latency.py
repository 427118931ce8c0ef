"""Benchmark 2: from the reload signal to the new configuration in service, by config size.

For 10, 1,000 and 10,000 server blocks, each round changes the configuration, snapshots
the workers as cleanenv-nginx does (:class:`certbot_cleanenv.reload.ReloadWatch`), sends
SIGHUP to the master (what ``nginx -s reload`` does once it has read the configuration)
and times two things from that signal:

- *ours*: when :meth:`ReloadWatch.wait` returns;
- *nginx's own*: when the last old worker retired (exited, or titled "shutting down"),
  seen by a separate observer process that polls those workers every 0.5 ms.

Target: ours within 50 ms of nginx's own at every size. Also draws the chart README shows
(``benchmarks/reload-latency.png``): these two against the stock plugin's fixed 1 s sleep.

    python -m benchmarks.reload_latency [--rounds N] [--sizes 10,1000,10000]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import HERE, STOCK_SLEEP, Figures, heading, save
from certbot_cleanenv import reload
from tests.fixtures import net
from tests.fixtures.nginx import NginxSite, nginx_binary

TARGET = 0.050
CHART = HERE / "reload-latency.png"

#: Polls the old workers; prints the monotonic time at which the last one retired.
OBSERVER = """\
import sys, time
pids = [int(p) for p in sys.argv[1:]]
def retired(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"shutting down" in f.read()
    except OSError:
        return True
print("ready", flush=True)
while not all(retired(p) for p in pids):
    time.sleep(0.0005)
print(time.monotonic(), flush=True)
"""

SERVER = ("    server {{ listen 127.0.0.1:{port}; server_name s{n}.example.test; "
          "location / {{ return 200 \"{gen}\"; }} }}\n")


def write_config(site: NginxSite, port: int, size: int, gen: int) -> None:
    """``size`` server blocks on one port; ``gen`` makes each round's config new."""
    text = site.conf.read_text()
    head = text[:text.rstrip().rindex("}")]
    if "# generated" in head:
        head = head[:head.index("    # generated")]
    blocks = "".join(SERVER.format(port=port, n=n, gen=gen) for n in range(size))
    site.conf.write_text(f"{head}    # generated\n    server_names_hash_max_size 65536;\n"
                         f"    server_names_hash_bucket_size 128;\n{blocks}}}\n")


def one_round(site: NginxSite, master: int) -> tuple[float, float]:
    """Signal one reload; (ours, nginx's own) in seconds from the signal."""
    watch = reload.ReloadWatch.before_signal(str(site.root / "nginx.pid"), str(site.error_log))
    if watch.why_not:
        raise SystemExit(f"cannot watch nginx: {watch.why_not}")
    with subprocess.Popen([sys.executable, "-c", OBSERVER, *map(str, watch.old)],
                          stdout=subprocess.PIPE, text=True) as observer:
        assert observer.stdout is not None
        observer.stdout.readline()  # "ready"
        signalled = time.monotonic()
        os.kill(master, signal.SIGHUP)
        ours = watch.wait(120)
        retired = float(observer.stdout.readline())
    return ours, retired - signalled


def measure(size: int, rounds: int, work: Path) -> tuple[Figures, Figures, Figures]:
    """(ours, nginx's own, ours minus nginx's own) for one config size."""
    site = NginxSite(work / f"size-{size}")
    port = net.free_port()
    write_config(site, port, size, 0)
    site.start()
    try:
        master = site.master_pid()
        assert master is not None
        reload.ReloadWatch.before_signal(str(site.root / "nginx.pid"), None)  # workers up
        ours, own, lag = [], [], []
        for gen in range(1, rounds + 1):
            write_config(site, port, size, gen)
            mine, theirs = one_round(site, master)
            ours.append(mine)
            own.append(theirs)
            lag.append(mine - theirs)
        return Figures.of(ours), Figures.of(own), Figures.of(lag)
    finally:
        site.stop()


def draw(rows: list[dict[str, float]]) -> None:
    """The README's chart: ours and nginx's own against the stock plugin's fixed sleep."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["size"] for row in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(sizes, [row["own_median_s"] * 1000 for row in rows], "s--", color="0.4",
            label="nginx's own (last old worker retired), median")
    ax.plot(sizes, [row["ours_median_s"] * 1000 for row in rows], "o-", color="tab:green",
            label="cleanenv-nginx: confirmed applied, median")
    ax.plot(sizes, [row["own_max_s"] * 1000 for row in rows], "x", color="0.4",
            label="nginx's own, slowest reload of the round")
    ax.plot(sizes, [row["ours_max_s"] * 1000 for row in rows], "+", color="tab:green",
            markersize=10, label="cleanenv-nginx, slowest reload of the round")
    ax.axhline(STOCK_SLEEP * 1000, color="tab:red", linestyle=":",
               label=f"stock plugin: fixed {STOCK_SLEEP:g} s sleep")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("server blocks in nginx.conf")
    ax.set_ylabel("ms from reload signal to new config in service")
    ax.set_title("Reload: confirmed, not guessed")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_ylim(top=STOCK_SLEEP * 3000)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(CHART)
    print(f"chart: {CHART.relative_to(HERE.parent)}")


def main() -> None:
    """Measure every size, print the figures, save them and draw the chart."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="reloads per size (default 10)")
    parser.add_argument("--sizes", default="10,1000,10000", help="server block counts")
    parser.add_argument("--no-chart", action="store_true", help="do not draw the PNG")
    args = parser.parse_args()
    if nginx_binary() is None:
        raise SystemExit("benchmarks: nginx is not installed (./dev bench installs it)")
    heading(f"reload signal -> new config in service, {args.rounds} reloads per size")
    rows = []
    with tempfile.TemporaryDirectory(prefix="cleanenv-bench-reload-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            ours, own, lag = measure(size, args.rounds, Path(tmp))
            verdict = "met" if lag.max <= TARGET else "MISSED"
            print(f"{size:>6} server blocks: ours {ours.ms()}; nginx's own {own.ms()}; "
                  f"ours - nginx's own {lag.ms()} (target <= {TARGET * 1000:g} ms: {verdict})",
                  flush=True)
            rows.append({"size": size, "ours_median_s": ours.median, "ours_max_s": ours.max,
                         "own_median_s": own.median, "own_max_s": own.max,
                         "lag_median_s": lag.median, "lag_max_s": lag.max})
    save("reload_latency", {"rounds": args.rounds, "rows": rows})
    if not args.no_chart:
        draw(rows)


if __name__ == "__main__":
    main()
