"""Throughput, latency and memory of ``rdplic serve`` under many simulated clients.

    .venv/bin/python benchmarks/serve.py [--handshakes 2000] [--concurrency 64]
        [--security rdp|tls] [--hold 5000] [--profile FILE] [--crypto-share]

(``--handshakes 300 --hold 0`` for a quick run; ``--profile`` runs the server under
cProfile, which slows it down, to see where its time goes.)

What it does, all over loopback:

1. Measures the crypto-bound rate: the RSA and hashing work the server itself does in one
   licensing handshake.  One new-device and one returning-device handshake are run in this
   process with the server's own code and keys; every call the server core makes into the
   crypto primitives (raw RSA of the client random under Standard RDP Security and of the
   premaster secret, the license signature, key derivations, RC4 and MACs; under TLS, the
   TLS handshake too) is recorded, then replayed and timed.  The inverse of that time is
   the most handshakes per second one core could do if the server did nothing else.
2. Starts ``rdplic serve`` in a child process pinned to one CPU (when there are two or
   more, the simulated clients get the others) with a fresh state directory.
3. Runs ``--handshakes`` licensing handshakes, ``--concurrency`` at a time, with the
   project's own client core (`rdplic.net.client`); each client is a new device, so each
   handshake issues and records a permanent CAL; then the same devices again, which
   present their license and are valid clients.  Prints handshakes per second, latency
   percentiles, the server's CPU time per handshake, and the ratio of the rate that CPU
   time allows on one core to the crypto-bound rate (target: at least 0.5).

   The crypto-bound reference is measured *during* each pass, on the server's core, by a
   probe (`CryptoProbe`): a child process that replays the recorded crypto, times it with
   its own CPU clock and sleeps, taking about a tenth of the core.  On a virtual machine
   a core's speed depends on what the other cores do: on the machine this was written
   on, a 2048-bit RSA decryption takes about 1.7 times as long while the other vCPU is
   busy (as it is with the simulated clients during a pass) as when it is idle, and
   drifts by tens of percent over minutes besides.  A replay on an idle machine would
   compare the server with a faster core than the one it ran on; the idle replay
   (before and after the passes) is printed too, with the ratio it would give.
   The server runs through ``benchmarks/serve_timed.py``, which reports its CPU times;
   with ``--crypto-share`` it also adds up the CPU time of the same crypto calls inside
   it: their share of the server's CPU is a third measure of the ratio, taken where the
   calls ran.  Their wrappers cost the server about a tenth of its CPU, so that pass
   understates the capacity: leave it off for the capacity figures.
4. Opens ``--hold`` connections that stop after the MCS Connect Initial and keeps them open
   (target: 5,000 without errors), reads the server's resident memory before and after,
   and prints the memory per open connection; then checks that every one is still open.

Nothing is asserted: the figures are printed (benchmarks never fail the test suite).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet import asyncioreactor  # noqa: E402

asyncioreactor.install()

from handshake_crypto import CryptoCall, CryptoRecorder, replay  # noqa: E402
from twisted.internet import defer, reactor  # noqa: E402
from twisted.internet.protocol import ClientFactory, Protocol  # noqa: E402

from rdplic.app import build_client  # noqa: E402
from rdplic.core.client_store import MemoryLicenseStore  # noqa: E402
from rdplic.core.connection_client import ClientConnection  # noqa: E402
from rdplic.simclient.load import DevicePool, LoadOptions, LoadReport, load_deferred  # noqa: E402

_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


# -- 1. the crypto-bound rate ------------------------------------------------------------
#
# "The cryptography alone" is the RSA and hashing work the server itself does in one
# handshake, with its own implementations: the raw RSA decryptions (client random under
# Standard RDP Security, premaster secret) as `rdplic.crypto.rsa` does them (OpenSSL's
# blinded constant-time RSA through libcrypto, or its GMP fallback), the
# license signature with OpenSSL, the key derivations, RC4 and MACs.  Rather than
# listing those steps by hand (and missing or double-counting one), the benchmark runs
# one handshake of each kind in this process with the server's own code and keys,
# records every call the server core makes into those primitives (the outermost one:
# a MAC inside RdpCipher.protect is not counted twice), and replays the recorded calls
# in a timed loop (each step's median over 20 ms blocks).  Under TLS the server-side
# TLS handshake (OpenSSL through the server's own TLS layer, certificate and context) is
# timed too.
# Nothing else is counted: no DER building, no parsing, no store.


def _tls_contexts(state_dir: Path) -> tuple[Any, Any]:
    """The server's own TLS context (as `rdplic serve` makes it) and a client's."""
    from rdplic.net.tls import client_tls_context, load_or_create_certificate, server_tls_context

    return server_tls_context(load_or_create_certificate(state_dir)), client_tls_context()


def _tls_handshake_cost(
    contexts: tuple[Any, Any],
    seconds: float,
    clock: Callable[[], float] = time.perf_counter,
    at_least: int = 5,
) -> float:
    """Seconds of server-side work for one TLS handshake with the server's own context, in
    the server's own TLS layer (`rdplic.net.tls.TlsSession`)."""
    from rdplic.net.tls import TlsSession

    server_context, client_context = contexts
    spent, count, started = 0.0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds or count < at_least:
        server = TlsSession(server_context, server_side=True)
        client = TlsSession(client_context, server_side=False)
        to_server = client.start()
        while to_server:
            tick = clock()
            _, to_client = server.receive(to_server)
            spent += clock() - tick
            _, to_server = client.receive(to_client) if to_client else (b"", b"")
        assert server.established and client.established
        count += 1
    return spent / count


@dataclasses.dataclass(slots=True)
class CryptoWork:
    """Per-handshake crypto cost by step, for new and returning devices."""

    new: dict[str, float]
    returning: dict[str, float]
    openssl_rsa: dict[str, float]
    """What each raw RSA step would cost with OpenSSL's RSA (same key size), for reference."""

    @staticmethod
    def rate(costs: dict[str, float]) -> float:
        return 1.0 / sum(costs.values())

    def mean(self, other: CryptoWork) -> CryptoWork:
        """Each step's mean of two measurements (taken before and after a pass)."""

        def average(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
            return {label: (a[label] + b[label]) / 2 for label in a}

        return CryptoWork(
            average(self.new, other.new),
            average(self.returning, other.returning),
            average(self.openssl_rsa, other.openssl_rsa),
        )


@dataclasses.dataclass(slots=True)
class RecordedCrypto:
    """The server core's crypto calls in one new-device and one returning handshake."""

    new: list[CryptoCall]
    returning: list[CryptoCall]
    keys: dict[str, Any]
    """The raw-RSA keys by step label, for the OpenSSL comparison."""


def record_crypto(state_dir: Path, security: str) -> RecordedCrypto:
    """Run one new-device and one returning-device handshake in this process, recording
    the server core's calls into the crypto primitives."""
    from rdplic.app import build_server
    from rdplic.core.events import DecisionNeeded
    from rdplic.licensing import CalType
    from rdplic.store import SqliteStore

    scratch = Path(tempfile.mkdtemp(prefix="rdplic-bench-crypto-"))
    store = SqliteStore(scratch / "store.sqlite3")
    app = build_server(state_dir, security=security, store=store, first_license="permanent")
    identity = app.identity
    app.admin.add_key_pack(datetime.now(UTC), cal_type=CalType.PER_DEVICE, count=5)
    make_server = app.make_connection

    recorder = CryptoRecorder()
    recorder.install()
    recorded = []
    try:
        for _ in range(2):  # a new device, then the same device again
            recorder.calls = []
            server = make_server()
            client = make_client(10**9, 0 if security == "rdp" else 1)
            client.start()
            while True:
                to_server = client.data_to_send()
                recorder.active = True
                if to_server:
                    server.receive_data(to_server, datetime.now(UTC))
                while (event := server.next_event()) is not None:
                    if isinstance(event, DecisionNeeded):
                        now = datetime.now(UTC)
                        server.decide(app.policy.decide(event, now).decision, now)
                to_client = server.data_to_send()
                recorder.active = False
                if to_client:
                    client.receive_data(to_client, datetime.now(UTC))
                while client.next_event() is not None:
                    pass
                if server.awaiting_tls and client.awaiting_tls:
                    # The TLS handshake is timed on its own (_tls_handshake_cost).
                    server.tls_established(datetime.now(UTC))
                    client.tls_established(datetime.now(UTC))
                    continue
                if not to_server and not to_client:
                    break
            recorded.append(recorder.calls)
    finally:
        recorder.remove()
        store.close()
    keys = {
        "rsa: client random": identity.proprietary_key,
        "rsa: premaster secret": identity.terminal_server_key,
    }
    return RecordedCrypto(recorded[0], recorded[1], keys)


def time_crypto(
    recorded: RecordedCrypto,
    state_dir: Path,
    security: str,
    cpu: int | None,
    seconds: float = 2.0,
) -> CryptoWork:
    """Replay the recorded crypto on ``cpu`` (the server's, idle meanwhile) and time it.

    A virtual machine's speed drifts by tens of percent over minutes: the benchmark
    times the crypto before and after each pass of handshakes, on the server's CPU, and
    compares the pass with the mean of the two.
    """
    from cryptography.hazmat.primitives.asymmetric import padding

    previous = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        return _time_crypto(recorded, state_dir, security, seconds, padding)
    finally:
        os.sched_setaffinity(0, previous)


def _time_crypto(
    recorded: RecordedCrypto, state_dir: Path, security: str, seconds: float, padding: Any
) -> CryptoWork:
    # Timed in blocks of about 20 ms; each step's cost is its median over the blocks, so
    # that another process taking the CPU for a while does not count (nor a lucky block).
    # The two handshakes' blocks alternate, so that both see the machine alike.
    kinds = (recorded.new, recorded.returning)
    blocks: list[list[dict[str, float]]] = [[], []]
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or len(blocks[0]) < 5:
        for calls, kind_blocks in zip(kinds, blocks, strict=True):
            costs: dict[str, float] = {}
            count, block_start = 0, time.perf_counter()
            while time.perf_counter() - block_start < 0.02 or count < 2:
                replay(calls, costs)
                count += 1
            kind_blocks.append({label: total / count for label, total in costs.items()})
    results = [
        {label: statistics.median(b[label] for b in kind_blocks) for label in kind_blocks[0]}
        for kind_blocks in blocks
    ]
    if security == "tls":
        tls = _tls_handshake_cost(_tls_contexts(state_dir), seconds / 3)
        for costs in results:
            costs["tls handshake (OpenSSL)"] = tls
    # The same private operations as OpenSSL's PKCS#1 v1.5 decryption (same keys): what
    # the raw operations should cost, for scale.
    openssl: dict[str, float] = {}
    for label, key in recorded.keys.items():
        native = key.to_cryptography()
        ciphertext = native.public_key().encrypt(bytes(32), padding.PKCS1v15())
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < 0.2:
            native.decrypt(ciphertext, padding.PKCS1v15())
            count += 1
        openssl[label] = (time.perf_counter() - started) / count
    return CryptoWork(results[0], results[1], openssl)


@dataclasses.dataclass
class CryptoProbe:
    """The recorded crypto, replayed on the server's core while a pass of handshakes runs.

    A virtual machine's speed drifts by tens of percent within seconds (the host's other
    guests, its clock frequency): timings taken before and after a pass can miss what
    the core did during it.  The probe, a child process pinned to the server's CPU,
    replays one new-device and one returning handshake's crypto in turn, times each with
    its own thread CPU clock (the server's turns on the core are not counted), and
    sleeps ``pause`` seconds after each, so that it takes about a tenth of the core.
    Every sample is stamped; a pass is compared with the samples taken during it, so
    the server and its crypto-bound reference are measured on the same core at the
    same time.
    """

    recorded: RecordedCrypto
    state_dir: Path
    security: str
    cpu: int | None
    path: Path
    pause: float = 0.02
    pid: int | None = dataclasses.field(default=None, init=False)

    def start(self) -> None:
        """Fork the probe (before the reactor runs: the child never touches it)."""
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the child: replay until the benchmark stops it or goes away
            code = 0
            try:
                self._loop()
            except BaseException:  # a child must never return into the parent's code
                code = 1
            os._exit(code)
        self.pid = pid

    def _loop(self) -> None:
        parent = os.getppid()
        if self.cpu is not None:
            os.sched_setaffinity(0, {self.cpu})
        kinds = (("new", self.recorded.new), ("returning", self.recorded.returning))
        contexts = _tls_contexts(self.state_dir) if self.security == "tls" else None
        with self.path.open("w", encoding="ascii") as out:
            while os.getppid() == parent:
                for kind, calls in kinds:
                    started = time.thread_time()
                    replay(calls, {})
                    spent = time.thread_time() - started
                    if contexts is not None:  # the server side of one TLS handshake
                        spent += _tls_handshake_cost(contexts, 0.0, time.thread_time, 1)
                    out.write(f"{time.monotonic():.6f} {kind} {spent:.9f}\n")
                    out.flush()
                    time.sleep(self.pause)

    def stop(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
            self.pid = None

    def rate(self, kind: str, start: float, end: float) -> tuple[float, int]:
        """The crypto-bound rate of ``kind`` from the samples taken between start and end."""
        samples = []
        for line in self.path.read_text(encoding="ascii").splitlines():
            stamp, what, spent = line.split()
            if what == kind and start <= float(stamp) <= end:
                samples.append(float(spent))
        if not samples:
            return 0.0, 0
        return 1.0 / statistics.fmean(samples), len(samples)


def print_crypto(work: CryptoWork) -> None:
    print(
        "\ncrypto work of one handshake, server side: the calls the server core made into"
        "\nRSA, hashing, RC4 and MACs in an in-process handshake with its own keys, replayed on"
        "\nthe server's CPU while it is idle (no DER building, parsing or store work counted):"
    )
    print(f"  {'':<34} {'new device':>12} {'returning':>12}")
    labels = list(work.new) + [k for k in work.returning if k not in work.new]
    for label in labels:
        cells = [
            f"{costs[label] * 1e6:9.1f} us" if label in costs else f"{'-':>12}"
            for costs in (work.new, work.returning)
        ]
        print(f"  {label:<34} {cells[0]:>12} {cells[1]:>12}")
    totals = [sum(c.values()) for c in (work.new, work.returning)]
    print(f"  {'total':<34} {totals[0] * 1e6:9.1f} us {totals[1] * 1e6:9.1f} us")
    print(
        f"  {'-> crypto-bound rate':<34} {1 / totals[0]:10.1f}/s {1 / totals[1]:10.1f}/s"
        "  (idle core; the probe during each pass is the reference)"
    )
    alternative = []
    for costs in (work.new, work.returning):
        swapped = {k: work.openssl_rsa.get(k, v) for k, v in costs.items()}
        alternative.append(1 / sum(swapped.values()))
    from rdplic.crypto.rsa import rsa_backend

    print(
        f"  (raw RSA by {rsa_backend()};\n   with OpenSSL's PKCS#1 decryption in its place:"
        f" {alternative[0]:.1f}/s and {alternative[1]:.1f}/s)"
    )


# -- 2. the server ---------------------------------------------------------------------


def start_server(
    state_dir: Path,
    security: str,
    cpu: int | None,
    profile: Path | None = None,
    crypto_share: bool = False,
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """``rdplic serve`` through `serve_timed` (with ``crypto_share``, its crypto calls' CPU
    time counted)."""
    if crypto_share:
        os.environ["RDPLIC_BENCH_CRYPTO_SHARE"] = "1"
    log = state_dir.parent / "serve.log"
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    entry = [
        str(Path(__file__).resolve().parent / "serve_timed.py"),
        str(state_dir.parent / "crypto-in-server.json"),
    ]
    command = [
        sys.executable,
        *profiler,
        *entry,
        "serve",
        "--port",
        "0",
        "--state-dir",
        str(state_dir),
        "--security",
        security,
        "--log-level",
        "warn",
        "--max-connections",
        "20000",
        "--idle-timeout",
        "600",
        "--total-timeout",
        "600",
        "--backlog",
        "4096",
    ]
    process = subprocess.Popen([*command, "--log-file", str(log)], cwd=ROOT)
    if cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(process.pid, {cpu})
    deadline = time.monotonic() + 60
    # The listening line is logged at info level: ask the port from /proc instead.
    while time.monotonic() < deadline:
        port = _listening_port(process.pid)
        if port:
            return process, port, log
        if process.poll() is not None:
            raise SystemExit(f"rdplic serve exited with {process.returncode}")
        time.sleep(0.1)
    raise SystemExit("rdplic serve did not start")


def _listening_port(pid: int) -> int | None:
    """The TCP port the process listens on (from /proc/net/tcp and its socket inodes)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:  # LISTEN
                return int(parts[1].split(":")[1], 16)
    except OSError:
        return None
    return None


def server_figures(process: subprocess.Popen[bytes], out: Path) -> dict[str, float]:
    """The server's crypto CPU seconds and user / system CPU seconds so far (SIGUSR1)."""
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if out.exists():
            return dict(json.loads(out.read_text()))
        time.sleep(0.02)
    raise SystemExit("the server did not report its crypto time")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time the process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- 3. handshakes -----------------------------------------------------------------------


_STORES: dict[int, MemoryLicenseStore] = {}


def make_client(index: int, requested: int | None) -> ClientConnection:
    """One device's sans-IO client machine, for the in-process crypto recording and the
    connections held open (the handshake passes use `run_handshakes`)."""
    hwid = (0x04010000).to_bytes(4, "little") + random.Random(index).randbytes(16)
    security = {None: "rdp-legacy", 0: "rdp", 1: "tls"}[requested]
    return build_client(
        machine_name=f"BENCH{index:06d}",
        user_name="bench",
        platform="freerdp",
        hwid=hwid,
        store=_STORES.setdefault(index, MemoryLicenseStore()),
        security=security,  # type: ignore[arg-type]
    )


def run_handshakes(
    pool: DevicePool | None, port: int, total: int, concurrency: int, security: str
) -> Any:
    """``total`` handshakes, ``concurrency`` at a time, with ``rdplic load``'s machinery
    (`rdplic.simclient.load`): the first pass makes new FreeRDP-like devices, the second
    (the same pool) brings each of them back once with its license."""
    options = LoadOptions(
        port=port,
        clients=total,
        concurrency=concurrency,
        returning=0.0 if pool is None else 1.0,
        security=security,
        user_name="bench",
        name_prefix="BENCH",
    )
    devices = pool or DevicePool(options)
    done = load_deferred(reactor, options, devices)
    return done.addCallback(lambda report: (report, devices))


# -- 4. connections held open ------------------------------------------------------------


class Hold(Protocol):
    """Sends the Connection Request and the Connect Initial, then stays silent."""

    def __init__(self, factory: HoldFactory, index: int) -> None:
        self.factory = factory
        self.core = make_client(index, 0)
        self.sent_initial = False

    def connectionMade(self) -> None:
        self.core.start()
        self.transport.write(self.core.data_to_send())  # type: ignore[union-attr]
        self.factory.connected += 1

    def dataReceived(self, data: bytes) -> None:
        if not self.sent_initial:
            self.core.receive_data(data, datetime.now(UTC))
            self.transport.write(self.core.data_to_send())  # type: ignore[union-attr]
            self.sent_initial = True
            self.factory.ready += 1

    def connectionLost(self, reason: object = None) -> None:
        self.factory.lost += 1


class HoldFactory(ClientFactory):
    noisy = False

    def __init__(self) -> None:
        self.connected = self.ready = self.lost = self.failed = 0
        self.protocols: list[Hold] = []
        self._index = 0

    def buildProtocol(self, addr: object) -> Hold:
        self._index += 1
        protocol = Hold(self, 1_000_000 + self._index)
        self.protocols.append(protocol)
        return protocol

    def clientConnectionFailed(self, connector: object, reason: object) -> None:
        self.failed += 1


def sleep(seconds: float) -> defer.Deferred[None]:
    d: defer.Deferred[None] = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)  # type: ignore[attr-defined]
    return d


@defer.inlineCallbacks
def hold_connections(port: int, count: int, server_pid: int):  # type: ignore[no-untyped-def]
    factory = HoldFactory()
    before = rss_kib(server_pid)
    batch = 200
    for start in range(0, count, batch):
        for _ in range(min(batch, count - start)):
            reactor.connectTCP("127.0.0.1", port, factory, timeout=30)  # type: ignore[attr-defined]
        yield sleep(0.05)
    deadline = time.monotonic() + 60
    while factory.ready + factory.failed + factory.lost < count and time.monotonic() < deadline:
        yield sleep(0.2)
    yield sleep(1.0)
    after = rss_kib(server_pid)
    yield sleep(2.0)  # still all open?
    result = {
        "opened": factory.connected,
        "answered": factory.ready,
        "failed": factory.failed,
        "lost": factory.lost,
        "rss_before_kib": before,
        "rss_after_kib": after,
    }
    for protocol in factory.protocols:
        protocol.transport.loseConnection()  # type: ignore[union-attr]
    yield sleep(1.0)
    return result


# -- main --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def report(
    title: str,
    result: tuple[LoadReport, float, tuple[float, float]],
    crypto: tuple[float, int],
    idle: float,
    inside: tuple[dict[str, float], dict[str, float]],
) -> None:
    load, elapsed, (user, system) = result
    server_cpu = user + system
    latencies = [seconds * 1000 for seconds in load.latencies]
    achieved = load.licensed / elapsed if elapsed else 0.0
    print(f"\n{title}: {load.licensed} licensed, {load.failed} failed in {elapsed:.2f} s")
    print(f"  outcomes: {dict(sorted(load.kinds.items()))}")
    if load.first_errors:
        print(f"  first failure: {next(iter(load.first_errors.values()))!r}")
    print(
        f"  the clients' own CPU: {load.cpu_per_handshake * 1000:.2f} ms per handshake "
        f"(rdplic load's figure)"
    )
    outcomes = range(load.connections)
    per_handshake = server_cpu / max(1, len(outcomes))
    capacity = 1.0 / per_handshake if per_handshake else 0.0
    print(
        f"  measured {achieved:8.1f} handshakes/s (clients and server on separate cores); "
        f"server CPU {per_handshake * 1000:.2f} ms per handshake (system"
        f" {system / max(1, len(outcomes)) * 1000:.2f}), {server_cpu / elapsed:.0%} busy"
    )
    rate, samples = crypto
    if not rate:  # no probe sample (a pass shorter than one replay): the idle replay
        rate = idle
    print(
        f"  server capacity on one core {capacity:8.1f} handshakes/s; crypto-bound {rate:.1f}/s;"
        f" ratio {capacity / rate:.2f} (target >= 0.5)"
    )
    print(
        f"  (crypto-bound: {samples} replays on the server's core during the pass;"
        f" idle replay before and after: {idle:.1f}/s, ratio {capacity / idle:.2f})"
    )
    start, end = inside
    crypto_inside = end["crypto"] - start["crypto"]
    cpu_inside = end["user"] + end["system"] - start["user"] - start["system"]
    count = max(1, len(outcomes))
    if cpu_inside > 0 and crypto_inside > 0:
        # The share is the ratio again, measured a third way: the server's own crypto
        # calls timed where they ran (the wrappers that time them cost the server a little).
        slower = crypto_inside / count * rate - 1
        print(
            f"  inside the server the crypto took {crypto_inside / count * 1000:.2f} of"
            f" {cpu_inside / count * 1000:.2f} ms CPU per handshake: share"
            f" {crypto_inside / cpu_inside:.2f} ({slower:+.0%} against the probe)"
        )
    if latencies:
        quantiles = "  ".join(
            f"p{int(q * 100)} {percentile(latencies, q):.1f}" for q in (0.5, 0.9, 0.99)
        )
        print(
            f"  latency ms: {quantiles}  max {max(latencies):.1f}"
            f"  mean {statistics.fmean(latencies):.1f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--security", choices=("rdp", "tls"), default="rdp")
    parser.add_argument("--hold", type=int, default=5000)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="run the server under cProfile and write its statistics to FILE (slows it down)",
    )
    parser.add_argument(
        "--crypto-share",
        action="store_true",
        help="time the crypto calls inside the server too (their wrappers slow it down)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rdplic-bench-"))
    state_dir = work / "state"
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0] if len(cpus) > 1 else None
    if server_cpu is not None:
        os.sched_setaffinity(0, set(cpus[1:]))

    print(
        f"rdplic serve benchmark: {args.handshakes} handshakes, {args.concurrency} at a time, "
        f"security {args.security}, {args.hold} connections held; state in {work}"
    )
    server, port, log = start_server(
        state_dir, args.security, server_cpu, args.profile, args.crypto_share
    )
    inside_file = work / "crypto-in-server.json"
    probe: CryptoProbe | None = None
    try:
        # Enough CALs that every new device gets a permanent one, and the second round of
        # the same devices is the common case of a server in service: a valid license.
        for command in (
            ["keypack", "add", "--type", "per-device", "--count", str(args.handshakes + 10)],
            ["config", "set", "first_license", "permanent"],
        ):
            subprocess.run(
                [sys.executable, "-m", "rdplic.cli.main", *command, "--state-dir", str(state_dir)],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        recorded = record_crypto(state_dir, args.security)
        before = time_crypto(recorded, state_dir, args.security, server_cpu)
        probe = CryptoProbe(recorded, state_dir, args.security, server_cpu, work / "probe.txt")
        probe.start()

        pool: list[DevicePool | None] = [None]

        def figures() -> dict[str, float]:
            return server_figures(server, inside_file)

        @defer.inlineCallbacks
        def one_pass():  # type: ignore[no-untyped-def]
            start_figures = figures()
            cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
            load, pool[0] = yield run_handshakes(
                pool[0], port, args.handshakes, args.concurrency, args.security
            )
            elapsed = load.elapsed
            cpu1, t1 = cpu_seconds(server.pid), time.monotonic()
            end_figures = figures()
            inside = (start_figures, end_figures)
            return (load, elapsed, (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])), (t0, t1), inside

        @defer.inlineCallbacks
        def everything():  # type: ignore[no-untyped-def]
            first = yield one_pass()
            again = yield one_pass()
            probe.stop()  # type: ignore[union-attr]
            held = None
            if args.hold:
                held = yield hold_connections(port, args.hold, server.pid)
            return first, again, held

        first, again, held = _run(everything())
        after = time_crypto(recorded, state_dir, args.security, server_cpu)
        print_crypto(before.mean(after))
        drift = ";  ".join(
            f"{name} {w.rate(w.new):.0f}/s, {w.rate(w.returning):.0f}/s"
            for name, w in (("before", before), ("after", after))
        )
        print(f"  (replayed on the server's idle core: {drift})")
        idle = before.mean(after)
        for title, kind, (result, (t0, t1), inside), idle_rate in (
            (
                "new devices (a permanent CAL issued and recorded each)",
                "new",
                first,
                idle.rate(idle.new),
            ),
            (
                "returning devices (license presented, valid client)",
                "returning",
                again,
                idle.rate(idle.returning),
            ),
        ):
            report(title, result, probe.rate(kind, t0, t1), idle_rate, inside)
        if held is not None:
            grown = held["rss_after_kib"] - held["rss_before_kib"]
            per = grown * 1024 / max(1, held["answered"])
            print(
                f"\nheld open: {held['answered']} of {args.hold} connections answered "
                f"({held['failed']} failed, {held['lost']} closed by the server)"
            )
            print(
                f"  server RSS {held['rss_before_kib'] / 1024:.1f} MiB -> "
                f"{held['rss_after_kib'] / 1024:.1f} MiB: {per / 1024:.1f} KiB per open connection"
            )
    finally:
        if probe is not None:
            probe.stop()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    errors = (
        [line for line in log.read_text().splitlines() if "Traceback" in line]
        if log.exists()
        else []
    )
    print(f"\nserver exited with {server.returncode}; {len(errors)} tracebacks in its log ({log})")
    return 0


def _run(deferred: defer.Deferred):  # type: ignore[no-untyped-def, type-arg]
    """Run the reactor until ``deferred`` fires; return its result."""
    box: list[object] = []

    def done(result: object) -> None:
        box.append(result)
        reactor.stop()  # type: ignore[attr-defined]

    deferred.addBoth(done)
    reactor.run()  # type: ignore[attr-defined]
    result = box[0]
    if isinstance(result, Exception) or hasattr(result, "raiseException"):
        result.raiseException()  # type: ignore[union-attr]
    return result


if __name__ == "__main__":
    sys.exit(main())
