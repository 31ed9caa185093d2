"""``rdplic load``'s machinery: many simulated devices from one process on the asyncio reactor.

`run_load(LoadOptions(...))` returns a `LoadReport`; `load_deferred(reactor, options, pool)`
does the same inside a reactor the caller runs (``benchmarks/serve.py``), with a
`DevicePool` that outlives one run (the benchmark's second pass is the same devices
returning).  ``procs`` > 1 runs that many ``rdplic load`` processes and merges their
reports (`LoadReport.merge`): one Python process keeps about one server core busy.

How a run goes:

* At most ``concurrency`` connections are open at once; the run stops launching at
  ``clients`` connections or after ``duration`` seconds, whichever comes first, and waits
  for those in flight (each has its ``timeout``).
* Each connection is a new device, or, with probability ``returning``, a device of this
  run that already holds a license and is idle (the least recently used), presenting its
  stored license.  A new device's platform is drawn from the ``platforms`` mix; its name
  is ``PREFIX`` + the seed's last two digits + process number + device number; its
  hardware id is the real client's derivation for ``freerdp`` and ``rdesktop``, else
  drawn from the seeded generator.  The
  same ``seed`` gives the same devices, choices and think times.
* Before each connection a client waits a think time drawn from an exponential
  distribution of mean ``think`` seconds (0: none).
* Targets outside 127.0.0.0/8 and ::1 are refused unless ``allow_remote``.
"""

from __future__ import annotations

import collections
import dataclasses
import ipaddress
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from rdplic.core.client_store import MemoryLicenseStore
from rdplic.core.platforms import CLIENT_PLATFORMS, ClientPlatform
from rdplic.errors import UsageError
from rdplic.simclient.machine import derived_hwid
from rdplic.simclient.results import ConnectionResult
from rdplic.vocabulary import Outcome

__all__ = [
    "Device",
    "DevicePool",
    "LoadOptions",
    "LoadReport",
    "check_target",
    "load_deferred",
    "parse_platform_mix",
    "run_load",
]


@dataclasses.dataclass(frozen=True, slots=True)
class LoadOptions:
    """What ``rdplic load`` runs (its options, one for one)."""

    host: str = "127.0.0.1"
    port: int = 3389
    clients: int | None = 100
    """Connections in all (None: until ``duration``)."""
    concurrency: int = 16
    duration: float | None = None
    returning: float = 0.0
    seed: int = 0
    platforms: tuple[tuple[str, float], ...] = (("freerdp", 1.0),)
    think: float = 0.0
    security: str = "negotiate"
    timeout: float = 30.0
    allow_remote: bool = False
    user_name: str = "load"
    name_prefix: str = "LOAD"
    procs: int = 1
    worker: int = 0
    """This process's number in a ``procs`` run (its devices' names and seed differ)."""


def parse_platform_mix(text: str) -> tuple[tuple[str, float], ...]:
    """``windows-10=3,freerdp=1`` (weights; a bare name weighs 1)."""
    mix = []
    for part in text.split(","):
        name, _, weight_text = part.strip().partition("=")
        if name not in CLIENT_PLATFORMS:
            raise UsageError(f"platform {name!r} is not one of {', '.join(CLIENT_PLATFORMS)}")
        try:
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            raise UsageError(f"platform weight {weight_text!r} is not a number") from None
        if not weight > 0 or math.isinf(weight):
            raise UsageError(f"platform weight of {name} must be positive")
        mix.append((name, weight))
    return tuple(mix)


def check_target(host: str, allow_remote: bool) -> None:
    """Refuse a target outside the loopback range unless ``allow_remote``."""
    if allow_remote:
        return
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        raise UsageError(f"cannot resolve {host!r}: {error}") from None
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_loopback:
            raise UsageError(
                f"{host} ({address}) is not a loopback address; pass --allow-remote to load it"
            )


@dataclasses.dataclass(slots=True)
class Device:
    """One simulated device: its identity and its licenses (in memory)."""

    name: str
    platform: ClientPlatform
    hwid: bytes
    store: MemoryLicenseStore = dataclasses.field(default_factory=MemoryLicenseStore)


class DevicePool:
    """The devices of one or more runs, made from a seed; idle licensed ones are reused
    least recently used first."""

    def __init__(self, options: LoadOptions) -> None:
        self._options = options
        self._random = random.Random(f"{options.seed}/{options.worker}")
        names, weights = zip(*options.platforms, strict=True)
        self._names: tuple[str, ...] = names
        self._weights: tuple[float, ...] = weights
        self.devices: list[Device] = []
        self._idle: collections.deque[Device] = collections.deque()

    def new_device(self) -> Device:
        index = len(self.devices)
        platform = CLIENT_PLATFORMS[self._random.choices(self._names, self._weights)[0]]
        o = self._options
        name = f"{o.name_prefix}{o.seed % 100:02d}{o.worker:02d}{index:05d}"
        hwid, _ = derived_hwid(platform, name)
        if not hwid:
            hwid = (2).to_bytes(4, "little") + self._random.randbytes(16)
        device = Device(name, platform, hwid)
        self.devices.append(device)
        return device

    def pick(self, returning: float) -> Device:
        """A returning device (probability ``returning``, when one is idle) or a new one."""
        if self._idle and (returning >= 1.0 or self._random.random() < returning):
            return self._idle.popleft()
        return self.new_device()

    def release(self, device: Device) -> None:
        """The device's connection ended: it may return if it holds a license."""
        if len(device.store):
            self._idle.append(device)

    def think_time(self, mean: float) -> float:
        return self._random.expovariate(1.0 / mean) if mean > 0 else 0.0


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclasses.dataclass(slots=True)
class LoadReport:
    """What a run did: connections by kind, rate, latency, the load's own CPU."""

    connections: int = 0
    kinds: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)
    """Seconds from connect to close of each licensed connection."""
    first_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    """The first error text of each failing kind."""
    devices: int = 0
    procs: int = 1
    results: list[ConnectionResult] = dataclasses.field(default_factory=list, repr=False)
    """Every connection's result (in-process runs only; not in the JSON)."""

    def add(self, result: ConnectionResult) -> None:
        self.connections += 1
        self.kinds[result.kind] += 1
        self.outcomes[result.outcome.value] += 1
        if result.outcome.licensed:
            self.latencies.append(result.duration_seconds)
        elif result.error:
            self.first_errors.setdefault(result.kind, result.error)
        self.results.append(result)

    @property
    def licensed(self) -> int:
        return sum(n for name, n in self.outcomes.items() if Outcome(name).licensed)

    @property
    def failed(self) -> int:
        return self.connections - self.licensed

    @property
    def rate(self) -> float:
        """Licensed handshakes per second."""
        return self.licensed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def cpu_per_handshake(self) -> float:
        """The load's own CPU seconds per connection."""
        return self.cpu_seconds / self.connections if self.connections else 0.0

    def latency(self, q: float) -> float | None:
        return _percentile(sorted(self.latencies), q)

    @classmethod
    def merge(cls, reports: Iterable[LoadReport]) -> LoadReport:
        """One report of runs made side by side (``--procs``): counts and CPU add up, the
        elapsed time is the longest."""
        merged = cls(procs=0)
        for report in reports:
            merged.connections += report.connections
            merged.kinds.update(report.kinds)
            merged.outcomes.update(report.outcomes)
            merged.elapsed = max(merged.elapsed, report.elapsed)
            merged.cpu_seconds += report.cpu_seconds
            merged.latencies.extend(report.latencies)
            merged.devices += report.devices
            merged.procs += report.procs
            for kind, error in report.first_errors.items():
                merged.first_errors.setdefault(kind, error)
        return merged

    def to_json(self, *, latencies: bool = False) -> dict[str, Any]:
        """The report in the vocabulary: durations in seconds (keys ending ``_seconds``),
        `Outcome` words under ``outcomes``."""
        out: dict[str, Any] = {
            "connections": self.connections,
            "licensed": self.licensed,
            "failed": self.failed,
            "devices": self.devices,
            "procs": self.procs,
            "outcomes": dict(sorted(self.outcomes.items())),
            "kinds": dict(sorted(self.kinds.items())),
            "duration_seconds": round(self.elapsed, 3),
            "handshakes_per_second": round(self.rate, 2),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_seconds_per_handshake": round(self.cpu_per_handshake, 6),
            "latency_seconds": {
                f"p{int(q * 100)}": None if v is None else round(v, 6)
                for q in (0.5, 0.9, 0.99)
                for v in (self.latency(q),)
            },
            "errors": dict(sorted(self.first_errors.items())),
        }
        if self.latencies:
            out["latency_seconds"]["mean"] = round(statistics.fmean(self.latencies), 6)
            out["latency_seconds"]["max"] = round(max(self.latencies), 6)
        if latencies:
            out["latencies_seconds"] = self.latencies
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LoadReport:
        """A report a worker printed with ``to_json(latencies=True)``."""
        report = cls(
            connections=int(value["connections"]),
            kinds=collections.Counter(value["kinds"]),
            outcomes=collections.Counter(value["outcomes"]),
            elapsed=float(value["duration_seconds"]),
            cpu_seconds=float(value["cpu_seconds"]),
            latencies=[float(x) for x in value.get("latencies_seconds", [])],
            first_errors=dict(value["errors"]),
            devices=int(value["devices"]),
            procs=int(value["procs"]),
        )
        return report

    def summary_line(self) -> str:
        """One line of progress: rate, completed, errors by kind, latency."""
        errors = ", ".join(
            f"{kind} {n}" for kind, n in sorted(self.kinds.items()) if not _licensed_kind(kind)
        )
        p50 = self.latency(0.5)
        return (
            f"{self.connections} done, {self.licensed} licensed, {self.rate:.1f}/s, "
            f"p50 {'-' if p50 is None else f'{p50 * 1000:.0f} ms'}, "
            f"errors: {errors or 'none'}"
        )


def _licensed_kind(kind: str) -> bool:
    head = kind.split(":")[0]
    for outcome in Outcome:
        if head == outcome.value or head.startswith(outcome.value + "_"):
            return outcome.licensed
    return False


def load_deferred(
    reactor: Any,
    options: LoadOptions,
    pool: DevicePool | None = None,
    *,
    progress: Callable[[LoadReport], None] | None = None,
    interval: float = 1.0,
) -> Any:
    """Run ``options`` in the running ``reactor``; a Deferred that fires with the report."""
    from twisted.internet import defer, task

    from rdplic.simclient.session import connect_device

    devices = pool or DevicePool(options)
    report = LoadReport()
    started = time.monotonic()
    cpu_start = time.process_time()
    launched = 0
    deadline = None if options.duration is None else started + options.duration

    def more() -> bool:
        if options.clients is not None and launched >= options.clients:
            return False
        return deadline is None or time.monotonic() < deadline

    def snapshot() -> None:
        report.elapsed = time.monotonic() - started
        report.cpu_seconds = time.process_time() - cpu_start
        report.devices = len(devices.devices)
        if progress is not None:
            progress(report)

    @defer.inlineCallbacks
    def worker() -> Any:
        nonlocal launched
        while more():
            launched += 1
            pause = devices.think_time(options.think)
            if pause:
                yield task.deferLater(reactor, pause, lambda: None)
            device = devices.pick(options.returning)
            try:
                result = yield connect_device(
                    reactor,
                    options.host,
                    options.port,
                    machine_name=device.name,
                    user_name=options.user_name,
                    platform=device.platform,
                    hwid=device.hwid,
                    store=device.store,
                    security=options.security,  # type: ignore[arg-type]
                    timeout=options.timeout,
                )
            except Exception as error:  # a bug of ours: counted, never a hung run
                result = ConnectionResult(
                    Outcome.INTERNAL_ERROR, f"{type(error).__name__}: {error}"
                )
            report.add(result)
            devices.release(device)

    ticker = task.LoopingCall(snapshot)
    if progress is not None:
        ticker.start(interval, now=False)

    def finish(_: object) -> LoadReport:
        if ticker.running:
            ticker.stop()
        snapshot()
        return report

    workers = [worker() for _ in range(max(1, options.concurrency))]
    return defer.gatherResults(workers, consumeErrors=True).addCallback(finish)


_REACTOR_USED = False


def run_load(
    options: LoadOptions,
    *,
    progress: Callable[[LoadReport], None] | None = None,
    interval: float = 1.0,
) -> LoadReport:
    """Run a load and return its report (the Python API of ``rdplic load``).

    In this process on Twisted's asyncio reactor, which runs once per process; a second
    call, or ``procs`` > 1, runs ``rdplic load`` in child processes and merges their
    reports (``results`` is then empty).
    """
    global _REACTOR_USED
    if options.clients is None and options.duration is None:
        raise UsageError("give a number of clients or a duration")
    check_target(options.host, options.allow_remote)
    if options.procs > 1 or _REACTOR_USED:
        return run_processes(options, progress=progress)
    _REACTOR_USED = True
    from rdplic.simclient.session import run_until_fired

    report: LoadReport = run_until_fired(
        lambda reactor: load_deferred(reactor, options, progress=progress, interval=interval)
    )
    return report


def worker_command(options: LoadOptions, worker: int, procs: int) -> list[str]:
    """The ``rdplic load`` command line of worker ``worker`` of ``procs``."""
    clients = None
    if options.clients is not None:
        clients = options.clients // procs + (1 if worker < options.clients % procs else 0)
    command = [
        sys.executable,
        "-m",
        "rdplic.cli.main",
        "load",
        f"[{options.host}]:{options.port}"
        if ":" in options.host
        else f"{options.host}:{options.port}",
        "--concurrency",
        str(max(1, math.ceil(options.concurrency / procs))),
        "--returning",
        repr(options.returning),
        "--seed",
        str(options.seed),
        "--platform-mix",
        ",".join(f"{name}={weight!r}" for name, weight in options.platforms),
        "--think",
        repr(options.think),
        "--security",
        options.security,
        "--timeout",
        repr(options.timeout),
        "--user",
        options.user_name,
        "--name-prefix",
        options.name_prefix,
        "--worker",
        str(worker),
        "--worker-report",
    ]
    if clients is not None:
        command += ["--clients", str(clients)]
    if options.duration is not None:
        command += ["--duration", repr(options.duration)]
    if options.allow_remote:
        command.append("--allow-remote")
    return command


def run_processes(
    options: LoadOptions, *, progress: Callable[[LoadReport], None] | None = None
) -> LoadReport:
    """``procs`` (at least 1) ``rdplic load`` processes side by side, reports merged."""
    procs = max(1, options.procs)
    children = [
        subprocess.Popen(
            worker_command(options, index, procs),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for index in range(procs)
    ]
    reports = []
    problems = []
    for child in children:
        out, err = child.communicate()
        try:
            reports.append(LoadReport.from_json(json.loads(out)))
        except (ValueError, KeyError, TypeError):
            problems.append(
                err.strip().splitlines()[-1] if err.strip() else f"exit {child.returncode}"
            )
    if problems:
        raise UsageError(f"a load process failed: {problems[0]}")
    merged = LoadReport.merge(reports)
    if progress is not None:
        progress(merged)
    return merged
