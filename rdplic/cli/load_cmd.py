"""``rdplic load``: many simulated clients against one RDP server, from one process or several.

Open up to --concurrency connections at a time until --clients connections were made or
--duration seconds passed; a share of them (--returning) are devices of this run that come
back with their stored license.  A live display (a terminal) or a plain line a second
shows progress; at the end a report: outcomes by kind, handshakes per second, latency
percentiles and the load's own CPU per handshake (--json for CI).  Only loopback targets
unless --allow-remote.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rdplic.cli.conventions import add_examples, add_json_option, emit_json
from rdplic.errors import UsageError

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    doc = __doc__ or ""
    parser = subparsers.add_parser(
        "load",
        help="many simulated clients against one server: rate, outcomes, latency",
        description=doc.split("\n\n")[1],
    )
    add_examples(
        parser,
        "rdplic load 127.0.0.1:33890 --clients 2000 --concurrency 64",
        "rdplic load 127.0.0.1:33890 --duration 60 --returning 0.5 --platform-mix "
        "windows-10=3,freerdp=1",
        "rdplic load 127.0.0.1:33890 --clients 5000 --procs 2 --json",
    )
    parser.add_argument("target", metavar="HOST:PORT", help="the server (port 3389 by default)")
    parser.add_argument(
        "--clients", type=int, help="connections in all [100; none with --duration]"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="open at once [16]")
    parser.add_argument("--duration", type=float, help="stop launching after SECONDS")
    parser.add_argument(
        "--returning",
        type=float,
        default=0.0,
        help="share of connections by devices that come back with their license (0-1) [0]",
    )
    parser.add_argument("--seed", type=int, default=0, help="identities and draws [0]")
    parser.add_argument(
        "--platform-mix",
        default="freerdp",
        metavar="NAME[=W],...",
        help="platform presets of new devices with weights, e.g. windows-10=3,freerdp=1 [freerdp]",
    )
    parser.add_argument("--think", type=float, default=0.0, help="mean think time, s [0]")
    parser.add_argument(
        "--security",
        choices=("negotiate", "tls", "rdp", "rdp-legacy"),
        metavar="negotiate|tls|rdp|rdp-legacy",
        default="negotiate",
        help="as for rdplic client [negotiate]",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per connection, s [30]")
    parser.add_argument("--user", default="load", help="user name sent [load]")
    parser.add_argument("--name-prefix", default="LOAD", help="device names' prefix [LOAD]")
    parser.add_argument("--procs", type=int, default=1, help="load processes [1]")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a target outside loopback"
    )
    add_json_option(parser)
    # A --procs parent runs its workers with these.
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-report", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def options_from(args: argparse.Namespace) -> Any:
    from rdplic.cli.client_cmd import parse_target
    from rdplic.simclient.load import LoadOptions, parse_platform_mix

    host, port = parse_target(args.target)
    clients = args.clients
    if clients is None and args.duration is None:
        clients = 100
    if clients is not None and clients < 1:
        raise UsageError("--clients must be at least 1")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.duration is not None and not args.duration > 0:
        raise UsageError("--duration must be positive")
    if not 0.0 <= args.returning <= 1.0:
        raise UsageError("--returning must be between 0 and 1")
    if args.think < 0 or not args.timeout > 0:
        raise UsageError("--think must be at least 0 and --timeout positive")
    if not 1 <= args.procs <= 64:
        raise UsageError("--procs must be 1 to 64")
    if not 1 <= len(args.name_prefix) <= 6:
        raise UsageError("--name-prefix must be 1 to 6 characters (names are 15 at most)")
    return LoadOptions(
        host=host,
        port=port,
        clients=clients,
        concurrency=args.concurrency,
        duration=args.duration,
        returning=args.returning,
        seed=args.seed,
        platforms=parse_platform_mix(args.platform_mix),
        think=args.think,
        security=args.security,
        timeout=args.timeout,
        allow_remote=args.allow_remote,
        user_name=args.user,
        name_prefix=args.name_prefix,
        procs=args.procs,
        worker=args.worker,
    )


class _Display:
    """Progress: rich's live display on a terminal, a plain line a second otherwise."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._live: Any = None
        if stream.isatty():
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=stream), refresh_per_second=4, transient=True)
            self._live.start()

    def update(self, report: Any) -> None:
        if self._live is None:
            print(f"load: {report.summary_line()}", file=self._stream, flush=True)
            return
        from rich.table import Table

        table = Table(title="rdplic load", show_header=False)
        p50, p99 = report.latency(0.5), report.latency(0.99)
        table.add_row("completed", str(report.connections))
        table.add_row("rate", f"{report.rate:.1f} handshakes/s")
        table.add_row("own CPU", f"{report.cpu_per_handshake * 1000:.2f} ms per handshake")
        table.add_row(
            "latency",
            "-" if p50 is None else f"p50 {p50 * 1000:.0f} ms, p99 {(p99 or 0) * 1000:.0f} ms",
        )
        for kind, count in sorted(report.kinds.items()):
            table.add_row(kind, str(count))
        self._live.update(table)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()


def print_report(report: Any) -> None:
    """The final report for people."""
    print(
        f"{report.connections} connections in {report.elapsed:.2f} s from {report.procs} "
        f"process(es), {report.devices} devices: {report.licensed} licensed, "
        f"{report.failed} not"
    )
    print(
        f"  {report.rate:.1f} handshakes/s; the load's own CPU "
        f"{report.cpu_per_handshake * 1000:.2f} ms per handshake ({report.cpu_seconds:.2f} s)"
    )
    if report.latencies:
        quantiles = "  ".join(
            f"p{int(q * 100)} {(report.latency(q) or 0) * 1000:.1f}" for q in (0.5, 0.9, 0.99)
        )
        print(f"  latency ms: {quantiles}")
    for kind, count in sorted(report.kinds.items()):
        error = report.first_errors.get(kind)
        print(f"  {kind:32} {count:7d}" + (f"   first: {error}" if error else ""))


def run(args: argparse.Namespace) -> int:
    from rdplic.simclient.load import run_load, run_processes

    options = options_from(args)
    if args.worker_report:  # a --procs worker: the report with its latencies, nothing else
        report = run_load(options)
        json.dump(report.to_json(latencies=True), sys.stdout)
        return 0
    stream = sys.stderr if args.json else sys.stdout
    if options.procs > 1:
        print(f"load: {options.procs} processes", file=stream, flush=True)
        report = run_processes(options)
    else:
        display = _Display(stream)
        try:
            report = run_load(options, progress=display.update)
        finally:
            display.stop()
    if args.json:
        emit_json(report.to_json())
    else:
        print_report(report)
    return 0
