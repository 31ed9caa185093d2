"""The cost of sharing: ``rdplic serve --workers N`` on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/scale.py [--handshakes 1000] [--concurrency 32]
        [--workers 1,2,4] [--stores sqlite,postgresql] [--load total,per-worker] [--repeat 1]

For each store (the state directory's SQLite file; a throwaway PostgreSQL 15 cluster with
fsync on, as SQLite's ``synchronous=FULL`` is) and each worker count, it starts
``rdplic serve --workers N`` on a fresh store with enough CALs, runs ``--handshakes`` new
devices (``--concurrency`` at a time, the project's own client, Standard RDP Security;
each handshake issues and records a permanent CAL) after an unmeasured warm-up of
4 x that concurrency, and prints:

* handshakes per second (wall clock: on a 2-core machine shared with the clients, this
  says little about a real deployment);
* the server's CPU per handshake, all of it: every worker, the supervisor and, for
  PostgreSQL, the database's processes (the work SQLite does inside the workers);
* the ratio of the crypto-bound cost to that CPU cost: the crypto-bound reference is the
  server's own RSA, hashing and RC4 work in one new-device handshake, recorded and
  replayed as benchmarks/serve.py does (`serve.record_crypto`, `serve.time_crypto`),
  timed before and after the passes on the same cores.  1.0 would be a server doing
  nothing but its crypto.

Two loads (``--load``), each with its own table: ``total`` offers the same ``--concurrency``
connections whatever the number of workers, so each of N workers gets 1/N of them;
``per-worker`` offers ``--concurrency`` connections per worker (N x ``--concurrency`` in
all), so each worker sees what one worker alone sees, as when workers are added because the
load grew.  On a machine whose cores the load already saturates (this one has 2), the first
also measures how a worker's per-turn and per-commit costs amortise over a quarter of the
connections; the second isolates the cost of sharing itself (the processes, the store's lock,
the database's connections).

Targets: PostgreSQL's CPU per handshake within 1.3x of SQLite's, and N workers' total CPU
per handshake within 1.2x of one worker's; both ratios are printed for both loads.  On a
shared, noisy machine, ``--repeat R`` runs every configuration R times, in rounds (each round in the
reverse order of the one before, so that a drift of the machine's load spreads evenly):
the table shows the medians, and each ratio is the median of the ratios measured within
one round, with their range.  The database's share of the CPU, and for PostgreSQL the
decisions per batch (group commit), are printed too.  With SQLite the
workers' waits for the write lock are printed too (from their logs at shutdown).
Nothing is asserted: benchmarks never fail the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "scale"))

import serve as serve_bench  # noqa: E402  (installs the asyncio reactor)
from pgcluster import PgCluster, pg_available  # noqa: E402
from twisted.internet import defer, reactor  # noqa: E402


def _ticks(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (and of its children it reaped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:15]) / tick


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry))
    return found


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant (exited ones count in their
    parent's reaped-children times)."""
    return _ticks(pid) + sum(_tree_cpu(child) for child in _children(pid))


def _postmaster(cluster: PgCluster) -> int:
    return int((cluster.root / "data" / "postmaster.pid").read_text().split()[0])


def _admin(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", *args], cwd=ROOT, check=True, capture_output=True
    )


@defer.inlineCallbacks
def one_run(  # type: ignore[no-untyped-def]
    store: str, workers: int, handshakes: int, concurrency: int, cluster: PgCluster | None
):
    """One configuration: ``concurrency`` connections at a time, in all."""
    work = Path(tempfile.mkdtemp(prefix="rdplic-scale-"))
    state = work / "state"
    where = ["--db", cluster.new_database()] if cluster else ["--state-dir", str(state)]
    log = work / "serve.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rdplic.cli.main",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(state),
            *(where if cluster else []),
            "--workers",
            str(workers),
            "--security",
            "rdp",
            "--first-license",
            "permanent",
            "--max-connections",
            "20000",
            "--backlog",
            "4096",
            "--log-file",
            str(log),
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    needed = 1 if workers == 1 else workers + 1  # the supervisor's line and each worker's
    while len(re.findall(r"serving on|listening on", _read(log))) < needed:
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"rdplic serve did not start:\n{_read(log)}")
        time.sleep(0.1)
    port = int(re.search(r"listening on [\d.]+:(\d+)", _read(log)).group(1))  # type: ignore[union-attr]
    warmup = 4 * concurrency
    _admin(
        "keypack", "add", *where, "--type", "per-device", "--count", str(warmup + handshakes + 10)
    )
    # A warm-up pass first, not measured: every worker's database connections opened and
    # their caches filled (a PostgreSQL backend's first queries cost milliseconds of
    # catalog lookups), so that the figures are the steady state's.
    yield serve_bench.run_handshakes(None, port, warmup, concurrency, "rdp")

    def cpu() -> tuple[float, float]:
        """(rdplic serve's processes, the database's processes) CPU seconds."""
        return _tree_cpu(process.pid), _tree_cpu(_postmaster(cluster)) if cluster else 0.0

    cpu0, t0 = cpu(), time.monotonic()
    # New devices (a fresh DevicePool) through rdplic load's machinery, as benchmarks/serve.py.
    load, _ = yield serve_bench.run_handshakes(None, port, handshakes, concurrency, "rdp")
    cpu1, t1 = cpu(), time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    licensed = load.licensed
    waits = [
        (int(n), float(total), float(longest))
        for n, total, longest in re.findall(
            r"store write lock: taken (\d+) times, waited ([\d.]+) s in all, longest ([\d.]+) ms",
            _read(log),
        )
    ]
    batches = [
        (int(n), float(per))
        for n, per in re.findall(
            r"decisions committed in (\d+) batches \(([\d.]+) per batch\)", _read(log)
        )
    ]
    return {
        "batches": batches,
        "store": store,
        "workers": workers,
        "licensed": licensed,
        "rate": licensed / (t1 - t0),
        "cpu_per_handshake": (sum(cpu1) - sum(cpu0)) / max(licensed, 1),
        "db_cpu_per_handshake": (cpu1[1] - cpu0[1]) / max(licensed, 1),
        "lock_waits": waits,
    }


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _run(start: Any) -> Any:
    result: list[Any] = []

    def begin() -> None:
        deferred = start()
        deferred.addBoth(result.append)
        deferred.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(begin)
    reactor.run()
    if hasattr(result[0], "raiseException"):
        result[0].raiseException()
    return result[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument(
        "--load",
        default="total,per-worker",
        help="total: --concurrency connections in all; per-worker: --concurrency per worker",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every configuration")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    stores = args.stores.split(",")
    loads = args.load.split(",")
    if not set(loads) <= {"total", "per-worker"}:
        raise SystemExit("--load takes total, per-worker or both")

    reference = Path(tempfile.mkdtemp(prefix="rdplic-scale-ref-")) / "state"
    recorded = serve_bench.record_crypto(reference, "rdp")
    before = serve_bench.time_crypto(recorded, reference, "rdp", None)
    cluster = None
    if "postgresql" in stores:
        if not pg_available():
            raise SystemExit("PostgreSQL 15 is not installed (apt-get install postgresql-15)")
        cluster = PgCluster.create(fsync=True)
    results: list[dict[str, Any]] = []

    @defer.inlineCallbacks
    def everything():  # type: ignore[no-untyped-def]
        order = [(load, store, workers) for load in loads for store in stores for workers in counts]
        for round_number in range(args.repeat):
            for load, store, workers in order if round_number % 2 == 0 else order[::-1]:
                concurrency = args.concurrency * (workers if load == "per-worker" else 1)
                r = yield one_run(
                    store,
                    workers,
                    args.handshakes,
                    concurrency,
                    cluster if store == "postgresql" else None,
                )
                r["round"] = round_number
                r["load"] = load
                r["concurrency"] = concurrency
                results.append(r)
                print(
                    f"  round {round_number + 1}: {load:10s} {concurrency:4d} connections"
                    f" {store:10s} {workers} worker(s):"
                    f" {r['licensed']} licensed, {r['rate']:.0f}/s,"
                    f" {r['cpu_per_handshake'] * 1000:.2f} ms CPU each"
                    f" ({r['db_cpu_per_handshake'] * 1000:.2f} ms of it in the database)",
                    flush=True,
                )

    try:
        _run(everything)
    finally:
        if cluster is not None:
            cluster.destroy()
    after = serve_bench.time_crypto(recorded, reference, "rdp", None)
    crypto_cost = 1 / serve_bench.CryptoWork.rate(before.mean(after).new)
    print(
        f"\ncrypto-bound reference: {crypto_cost * 1000:.2f} ms CPU per new-device handshake"
        f" ({1 / crypto_cost:.0f} handshakes/s on one core)\n"
    )
    by_round = {(r["load"], r["store"], r["workers"], r["round"]): r for r in results}

    def ratios(r: dict[str, Any], other: tuple[str, int]) -> list[float]:
        """This configuration's CPU per handshake over ``other``'s (same load), round by
        round."""
        return [
            mine["cpu_per_handshake"] / theirs["cpu_per_handshake"]
            for (load, store, workers, rnd), mine in by_round.items()
            if (load, store, workers) == (r["load"], r["store"], r["workers"])
            and (theirs := by_round.get((load, *other, rnd))) is not None
        ]

    def shown(values: list[float]) -> str:
        if not values:
            return "-"
        text = f"{statistics.median(values):.2f}x"
        if len(values) > 1:
            text += f" ({min(values):.2f}-{max(values):.2f})"
        return text

    for load in loads:
        print(
            f"load {load}: "
            + (
                f"{args.concurrency} connections in all"
                if load == "total"
                else f"{args.concurrency} connections per worker"
            )
        )
        print(
            "store       workers  connections  handshakes/s  CPU ms/handshake  crypto ratio"
            "         vs 1 worker           vs SQLite"
        )
        for store in stores:
            for workers in counts:
                runs = [
                    r
                    for r in results
                    if (r["load"], r["store"], r["workers"]) == (load, store, workers)
                ]
                if not runs:
                    continue
                cpu = statistics.median(r["cpu_per_handshake"] for r in runs)
                rate = statistics.median(r["rate"] for r in runs)
                print(
                    f"{store:10s}  {workers:7d}  {runs[0]['concurrency']:11d}  {rate:12.0f}"
                    f"  {cpu * 1000:16.2f}  {crypto_cost / cpu:12.2f}"
                    f"  {shown(ratios(runs[0], (store, counts[0]))):>18s}"
                    f"  {shown(ratios(runs[0], ('sqlite', workers))):>18s}"
                )
        print()
    print("targets: PostgreSQL within 1.3x of SQLite; N workers within 1.2x of one worker")
    for r in results:
        if r["batches"]:
            count = sum(n for n, _ in r["batches"])
            decided = sum(n * per for n, per in r["batches"])
            print(
                f"PostgreSQL, load {r['load']}, {r['workers']} worker(s), round {r['round'] + 1}:"
                f" {count} batches,"
                f" {decided / max(count, 1):.1f} decisions per batch,"
                f" {r['db_cpu_per_handshake'] * 1000:.2f} ms of the CPU per handshake in"
                " PostgreSQL"
            )
    for r in results:
        if r["lock_waits"]:
            taken = sum(n for n, _, _ in r["lock_waits"])
            waited = sum(t for _, t, _ in r["lock_waits"])
            longest = max(m for _, _, m in r["lock_waits"])
            print(
                f"SQLite write lock, load {r['load']}, {r['workers']} worker(s),"
                f" round {r['round'] + 1}: taken"
                f" {taken} times, waited"
                f" {waited:.2f} s in all ({waited / max(taken, 1) * 1000:.2f} ms each),"
                f" longest {longest:.1f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
