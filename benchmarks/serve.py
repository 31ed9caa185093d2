"""Throughput, latency and memory of ``rdplic serve`` under many simulated clients.

    .venv/bin/python benchmarks/serve.py [--handshakes 2000] [--concurrency 64]
        [--security rdp|tls] [--hold 5000]

What it does, all over loopback:

1. Measures the crypto-bound rate: the RSA and hashing work the server does for one
   licensing handshake (RSA decryption of the client random under Standard RDP Security,
   of the premaster secret, the license signature, the key derivations, RC4 and MACs),
   timed in this process; one handshake's worth of it gives the most handshakes per second
   one core could ever do.
2. Starts ``rdplic serve`` in a child process pinned to one CPU (when there are two or
   more, the simulated clients get the others) with a fresh state directory.
3. Runs ``--handshakes`` licensing handshakes, ``--concurrency`` at a time, with the
   project's own client core (`rdplic.net.client`); each client is a new device, so each
   handshake issues and records a temporary license.  Prints handshakes per second and
   latency percentiles, and the ratio to the crypto-bound rate (target: at least 0.5).
4. Opens ``--hold`` connections that stop after the MCS Connect Initial and keeps them open
   (target: 5,000 without errors), reads the server's resident memory before and after,
   and prints the memory per open connection; then checks that every one is still open.

Nothing is asserted: the figures are printed (benchmarks never fail the test suite).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet import asyncioreactor  # noqa: E402

asyncioreactor.install()

from twisted.internet import defer, reactor  # noqa: E402
from twisted.internet.protocol import ClientFactory, Protocol  # noqa: E402

from rdplic.core.client_store import MemoryLicenseStore  # noqa: E402
from rdplic.core.connection_client import (  # noqa: E402
    ClientConnection,
    ClientConnectionConfig,
)
from rdplic.core.licensing_client import ClientConfig, LicensingClient  # noqa: E402
from rdplic.core.platforms import CLIENT_PLATFORMS  # noqa: E402
from rdplic.net.client import ClientOutcome, license_once  # noqa: E402

_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


# -- 1. the crypto-bound rate ------------------------------------------------------------


def crypto_rate(state_dir: Path, seconds: float = 3.0) -> tuple[float, dict[str, float]]:
    """Handshakes per second that the server's RSA and hashing work alone allows."""
    from rdplic.crypto import rsa as rsa_mod
    from rdplic.crypto.licensing import derive_licensing_keys, mac_data, rc4
    from rdplic.crypto.rdp_security import (
        EncryptionMethod,
        RdpCipher,
        derive_session_keys,
    )
    from rdplic.identity import ServerIdentity
    from rdplic.licensing import CryptoLicenseSigner, LicenseFields

    identity = ServerIdentity.load_or_create(state_dir)
    signer = CryptoLicenseSigner(identity.license_server)
    proprietary = identity.proprietary_key
    terminal = identity.terminal_server_key
    client_random = os.urandom(32)
    server_random = os.urandom(32)
    premaster = os.urandom(48)
    encrypted_random = rsa_mod.rsa_public_op(
        proprietary.public, int.from_bytes(client_random, "little")
    )
    encrypted_premaster = rsa_mod.encrypt_premaster(terminal.public, premaster)
    now = datetime.now(UTC)
    fields = LicenseFields(
        license_id=1,
        hwid=bytes(20),
        client_machine_name="BENCH",
        client_user_name="bench",
        product_major=10,
        product_minor=1,
        temporary=True,
        issued=now,
        expires=now + timedelta(days=90),
    )
    pdu = os.urandom(200)
    license_info = signer.sign(fields)
    # The RSA signature of a license: sha1WithRSA over its ~1 KiB tbsCertificate.
    ls_key = identity.license_server.private_key.to_cryptography()
    tbs = license_info[:1024]

    steps = {
        "rsa client random": lambda: rsa_mod.rsa_private_op(proprietary, encrypted_random),
        "rsa premaster": lambda: rsa_mod.decrypt_premaster(terminal, encrypted_premaster),
        "license signature (rsa)": lambda: ls_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1()),
        "session keys": lambda: derive_session_keys(
            client_random, server_random, EncryptionMethod.BIT_128, server=True
        ),
        "licensing keys": lambda: derive_licensing_keys(premaster, client_random, server_random),
        "rc4 + mac (6 pdus)": lambda: _pdus(RdpCipher, derive_session_keys, pdu, license_info),
        "licensing rc4 + mac": lambda: (
            rc4(premaster[:16], license_info),
            mac_data(premaster[:16], license_info),
            mac_data(premaster[:16], pdu[:30]),
        ),
    }
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    costs: dict[str, float] = {}
    for name, step in steps.items():
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / len(steps):
            step()
            count += 1
        costs[name] = (time.perf_counter() - started) / count
    # Not crypto, but the rest of issuing a license (building its DER), shown for scale.
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 0.5:
        signer.sign(fields)
        count += 1
    issuing = (time.perf_counter() - started) / count
    return 1.0 / sum(costs.values()), costs, issuing


def _pdus(cipher_cls: type, derive: object, pdu: bytes, license_info: bytes) -> None:
    from rdplic.crypto.rdp_security import EncryptionMethod

    keys = derive(bytes(32), bytes(32), EncryptionMethod.BIT_128, server=True)  # type: ignore[operator]
    cipher = cipher_cls(keys)
    for data in (pdu, pdu, license_info, pdu[:40], pdu[:30], pdu[:22]):
        cipher.protect(data)


# -- 2. the server ---------------------------------------------------------------------


def start_server(
    state_dir: Path, security: str, cpu: int | None
) -> tuple[subprocess.Popen[bytes], int, Path]:
    log = state_dir.parent / "serve.log"
    command = [
        sys.executable,
        "-m",
        "rdplic.cli.main",
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- 3. handshakes -----------------------------------------------------------------------


_STORES: dict[int, MemoryLicenseStore] = {}


def make_client(index: int, requested: int | None) -> ClientConnection:
    """Client ``index``: the same HWID, name and license store every time it connects."""
    rng = random.Random(index)
    store = _STORES.setdefault(index, MemoryLicenseStore())
    hwid = (0x04010000).to_bytes(4, "little") + rng.randbytes(16)
    name = f"BENCH{index:06d}"

    def licensing(certificate: bytes | None) -> LicensingClient:
        return LicensingClient(
            ClientConfig(
                platform=CLIENT_PLATFORMS["freerdp"],
                hwid=hwid,
                user_name="bench",
                machine_name=name,
                store=store,
                server_certificate=certificate,
            ),
            random_bytes=os.urandom,
        )

    config = ClientConnectionConfig(
        requested_protocols=requested, client_name=name, user_name="bench"
    )
    return ClientConnection(config, licensing, random_bytes=os.urandom)


@defer.inlineCallbacks
def run_handshakes(port: int, total: int, concurrency: int, requested: int | None):  # type: ignore[no-untyped-def]
    outcomes: list[ClientOutcome] = []
    next_index = [0]

    @defer.inlineCallbacks
    def worker():  # type: ignore[no-untyped-def]
        while next_index[0] < total:
            index = next_index[0]
            next_index[0] += 1
            outcome = yield license_once(reactor, "127.0.0.1", port, make_client(index, requested))
            outcomes.append(outcome)

    started = time.perf_counter()
    yield defer.gatherResults([worker() for _ in range(concurrency)])
    return outcomes, time.perf_counter() - started


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


def report(title: str, result: tuple[list[ClientOutcome], float, float], crypto: float) -> None:
    outcomes, elapsed, server_cpu = result
    ok = [o for o in outcomes if o.licensed]
    failed = [o for o in outcomes if not o.licensed]
    latencies = [o.elapsed * 1000 for o in ok]
    achieved = len(ok) / elapsed if elapsed else 0.0
    print(f"\n{title}: {len(ok)} licensed, {len(failed)} failed in {elapsed:.2f} s")
    if failed:
        print(f"  first failure: {failed[0].error!r}")
    per_handshake = server_cpu / max(1, len(outcomes))
    capacity = 1.0 / per_handshake if per_handshake else 0.0
    print(
        f"  measured {achieved:8.1f} handshakes/s (clients and server on separate cores); "
        f"server CPU {per_handshake * 1000:.2f} ms per handshake, {server_cpu / elapsed:.0%} busy"
    )
    print(
        f"  server capacity on one core {capacity:8.1f} handshakes/s; crypto-bound {crypto:.1f}/s;"
        f" ratio {capacity / crypto:.2f} (target >= 0.5)"
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
    server, port, log = start_server(state_dir, args.security, server_cpu)
    try:
        # Enough CALs that every new device gets a permanent one, and the second round of
        # the same devices is the common case of a server in service: a valid license.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rdplic.cli.main",
                "keypack",
                "add",
                "--type",
                "per-device",
                "--count",
                str(args.handshakes + 10),
                "--state-dir",
                str(state_dir),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rdplic.cli.main",
                "config",
                "set",
                "first_license",
                "permanent",
                "--state-dir",
                str(state_dir),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        rate, costs, issuing = crypto_rate(state_dir)
        print("\ncrypto work of one handshake (server side, RSA and hashing, measured here):")
        for name, cost in costs.items():
            print(f"  {name:<26} {cost * 1e6:9.1f} us")
        print(
            f"  {'total':<26} {sum(costs.values()) * 1e6:9.1f} us"
            f"  -> crypto-bound rate {rate:8.1f} handshakes/s"
        )
        print(f"  (building a license's DER and signing it: {issuing * 1e6:.1f} us, not counted)")
        returning = sum(v for k, v in costs.items() if "signature" not in k)
        returning_rate = 1.0 / returning

        requested = 0 if args.security == "rdp" else 1

        @defer.inlineCallbacks
        def everything():  # type: ignore[no-untyped-def]
            cpu0 = cpu_seconds(server.pid)
            first = yield run_handshakes(port, args.handshakes, args.concurrency, requested)
            cpu1 = cpu_seconds(server.pid)
            again = yield run_handshakes(port, args.handshakes, args.concurrency, requested)
            cpu2 = cpu_seconds(server.pid)
            first = (*first, cpu1 - cpu0)
            again = (*again, cpu2 - cpu1)
            held = None
            if args.hold:
                held = yield hold_connections(port, args.hold, server.pid)
            return first, again, held

        first, again, held = _run(everything())
        report("new devices (a permanent CAL issued and recorded each)", first, rate)
        report("returning devices (license presented, valid client)", again, returning_rate)
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
