"""Console benchmark (not a test): first paint and a filter at 10,000 hosts in headless Chromium,
with the refresh traffic of the console against the full-table status.json of before (same
server, same run).

A real frontend (`python -m rocks.server.run`) over an inventory of --hosts compute hosts in
racks of 100, one of them failed. Chromium is driven over the DevTools pipe (tests/server/cdp.py).
Per repetition:
  first paint   navigation to / until Chromium reports firstContentfulPaint, and until the load
                event (wall clock of this process, so it includes the DevTools round trip)
  filter        in the page: type a host name into the filter until the table shows its matches
                (includes the console's 120 ms typing debounce), measured with performance.now()
Medians are printed as JSON lines (bench/common.py). Target: both under 1 s here.
Usage: .venv/bin/python bench/console.py [--hosts 10000] [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import emit  # noqa: E402
from tests.server.cdp import Chromium  # noqa: E402
from tests.server.conftest import API_TOKEN, Server  # noqa: E402
from tests.server.racks import make_racked_cluster, racked_name, wait_until  # noqa: E402
from tests.server.test_install import client  # noqa: E402

FILTER = """(async () => {
  const input = document.querySelector('input[name=q]');
  const rows = () => [...document.querySelectorAll('#hosts tr[data-name]')];
  input.value = ''; input.dispatchEvent(new Event('input', {bubbles: true}));
  while (rows().length < 100) await new Promise(r => setTimeout(r, 5));
  const t0 = performance.now();
  input.value = %s; input.dispatchEvent(new Event('input', {bubbles: true}));
  while (!(rows().length && rows()[0].dataset.name === %s && rows().length === %d))
    await new Promise(r => setTimeout(r, 2));
  return performance.now() - t0;
})()"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    per_rack = 100
    failed = racked_name(args.hosts * 4 // 7, per_rack)
    wanted = racked_name(args.hosts * 3 // 7 // per_rack * per_rack + 7, per_rack)  # -N-7
    with tempfile.TemporaryDirectory(prefix="rocks-bench-console-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        cluster = make_racked_cluster(work / "state", -(-args.hosts // per_rack), per_rack,
                                      installing=[failed])
        emit("console-seed", args.hosts, time.perf_counter() - t0)
        srv = Server(cluster, work, refresh_interval=1.0)
        t0 = time.perf_counter()
        srv.start(timeout=300)
        emit("console-server-start", args.hosts, time.perf_counter() - t0)
        try:
            token = cluster.tokens[failed]
            with client(srv, cluster.addresses[failed]) as c:
                c.get(f"/install/kickstart?token={token}")
                c.post("/install/events", data={"stage": "failed", "token": token,
                                                "message": "installer failed"})
            wait_until(lambda: httpx.get(f"{srv.base}/console.json", params={
                "state": "failed"}).json()["total"] == 1)
            traffic(srv, args.hosts)
            matches = sum(wanted in racked_name(i, per_rack) for i in range(args.hosts))
            browse(srv, work, args.hosts, args.reps, failed, wanted, matches)
        finally:
            srv.stop()
            cluster.inventory.close()


def traffic(srv: Server, hosts: int) -> None:
    """Bytes and server time of one refresh: the console's delta vs the old full table."""
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    full = [httpx.get(f"{srv.base}/status.json", headers=auth) for _ in range(3)]
    first = httpx.get(f"{srv.base}/console.json")
    delta = httpx.get(f"{srv.base}/console.json", params={"since": first.json()["version"]})
    same = httpx.get(f"{srv.base}/console.json", headers={"If-None-Match": first.headers["etag"]})
    page = httpx.get(f"{srv.base}/")
    emit("status-json-full-table (before)", hosts,
         statistics.median(r.elapsed.total_seconds() for r in full), items=1,
         bytes=len(full[0].content))
    emit("console-page-html", hosts, page.elapsed.total_seconds(), items=1,
         bytes=len(page.content))
    emit("console-json-page", hosts, first.elapsed.total_seconds(), items=1,
         bytes=len(first.content))
    emit("console-json-delta-nothing-changed", hosts, delta.elapsed.total_seconds(), items=1,
         bytes=len(delta.content), not_modified_bytes=len(same.content),
         not_modified_status=same.status_code)


def browse(srv: Server, work: Path, hosts: int, reps: int, failed: str, wanted: str,
           matches: int) -> None:
    paint, loaded, filtering = [], [], []
    with Chromium(work / "profile", width=1280, height=800) as browser:
        browser.call("Page.setLifecycleEventsEnabled", enabled=True)
        for _ in range(reps):
            browser.open("about:blank")
            browser.events.clear()
            t0 = time.perf_counter()
            browser.call("Page.navigate", url=srv.base + "/")
            while True:
                event = browser.wait_event("Page.lifecycleEvent")
                if event["name"] == "firstContentfulPaint":
                    paint.append(time.perf_counter() - t0)
                    break
            browser.wait_event("Page.loadEventFired")
            loaded.append(time.perf_counter() - t0)
            first = browser.js("document.querySelector('#hosts tr[data-name]').dataset.name")
            assert first == failed, first
            filtering.append(browser.js(FILTER % (repr(wanted), repr(wanted), matches)) / 1000)
    emit("console-first-paint", hosts, statistics.median(paint), items=1,
         runs=[round(x, 3) for x in paint], target_seconds=1.0)
    emit("console-load-event", hosts, statistics.median(loaded), items=1,
         runs=[round(x, 3) for x in loaded])
    emit("console-filter", hosts, statistics.median(filtering), items=1,
         runs=[round(x, 3) for x in filtering], target_seconds=1.0,
         note="includes the 120 ms typing debounce")


if __name__ == "__main__":
    main()
