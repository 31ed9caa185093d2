"""What the web console costs: each API call's time over a store of many licenses, and the
RDP handshakes' time with and without a page following the live feed.

Run: ``.venv/bin/python benchmarks/web.py`` (``--licenses 2000 --handshakes 200``).

It fills a state directory with ``--licenses`` devices' temporary licenses (the policy with
a digest signer, no RSA), starts ``rdplic serve --web 127.0.0.1:0`` on it, and prints the
median time of each GET of the API (5 runs each, interleaved).  Then it licenses
``--handshakes`` simulated TLS clients one after another, once with no page open and once
with a live feed open and the page's reloads (every endpoint on every ``changed`` event)
running in a thread, and prints both rates and their ratio.  Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))

from web_helpers import WebServer, http, license_client

from rdplic.licensing import ClientIdentity, DigestSigner, LicensePolicy
from rdplic.store import open_store

ENDPOINTS = ("licenses", "key-packs", "history", "connections", "chart", "host")
PAGE = ("licenses", "key-packs", "connections", "chart", "host")
"""What the page reloads on a 'changed' event (app.js, refresh)."""


def fill(state: Path, count: int) -> None:
    store = open_store(state)
    policy = LicensePolicy(store, DigestSigner(), random.Random(1))
    now = datetime.now(UTC)
    for n in range(count):
        name = f"BENCH{n:05d}"
        hwid = b"\x02\x00\x00\x00" + hashlib.md5(name.encode()).digest()
        policy.request_new_license(ClientIdentity(hwid, name, "bench", 0x04010000), now)
    store.close()


def handshakes(server: WebServer, count: int, tag: str) -> float:
    start = time.perf_counter()
    for n in range(count):
        license_client(server.port, f"{tag}{n:04d}")
    return count / (time.perf_counter() - start)


def follow_page(server: WebServer, stop: threading.Event) -> None:
    """A page: the live feed open, every endpoint reloaded on each 'changed' event (at most
    one per tick) and the connections on each 'connection' event, as app.js does (without
    its coalescing, so a little more often than a browser)."""
    host, port = server.web.split(":")
    feed = HTTPConnection(host, int(port), timeout=60)
    feed.request("GET", "/api/events")
    response = feed.getresponse()
    while not stop.is_set():
        line = response.fp.readline()
        if not line:
            break
        if line.startswith(b"event: changed"):
            for endpoint in PAGE:
                http(f"{server.base}/api/{endpoint}")
        elif line.startswith(b"event: connection"):
            http(f"{server.base}/api/connections")
    feed.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--licenses", type=int, default=2000)
    parser.add_argument("--handshakes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        fill(state, args.licenses)
        server = WebServer(state)
        try:
            times: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
            for _ in range(5):
                for endpoint in ENDPOINTS:
                    start = time.perf_counter()
                    status, _ = http(f"{server.base}/api/{endpoint}")
                    times[endpoint].append(time.perf_counter() - start)
                    assert status == 200
            print(f"API over {args.licenses} licenses (median of 5):")
            for endpoint, values in times.items():
                print(f"  GET /api/{endpoint:12s} {statistics.median(values) * 1000:8.1f} ms")
            alone = handshakes(server, args.handshakes, "ALONE")
            stop = threading.Event()
            page = threading.Thread(target=follow_page, args=(server, stop), daemon=True)
            page.start()
            time.sleep(0.5)
            watched = handshakes(server, args.handshakes, "WATCHED")
            stop.set()
            page.join(timeout=10)
            print(f"{args.handshakes} TLS handshakes one after another:")
            print(f"  no page open        {alone:8.1f} /s")
            print(f"  page following      {watched:8.1f} /s  (ratio {watched / alone:.2f})")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
