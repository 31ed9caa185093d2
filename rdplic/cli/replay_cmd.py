"""``rdplic replay FILE...``: recorded sessions run again through rdplic's cores, offline.

Each FILE (or every ``*.pcapng`` under a directory) is read and every connection that
carries a recording is replayed (`rdplic.capture.replay`); with ``--target HOST:PORT``
the recorded clients act toward a running server instead (`rdplic.cli.replay_live`).
Exit status: 0 when every connection is identical (or "partial": recorded without secrets,
identical as far as the stand-in key allows; or, against a live server, "same-structure"),
1 when one differs or fails, 2 for bad input.  ``--json`` prints a
summary for CI; ``--update`` rewrites the captures that differ with what the cores send now.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rdplic.cli.conventions import add_examples, add_json_option
from rdplic.errors import UsageError

__all__ = ["register"]


def capture_files(paths: list[str]) -> list[Path]:
    """The files named, with directories expanded to their ``*.pcapng`` (sorted)."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.pcapng")))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{name}: no such file or directory")
    if not files:
        raise UsageError("no capture files found")
    return files


def _command(args: argparse.Namespace) -> int:
    from rdplic.app import build_client
    from rdplic.capture.pcap import CaptureError
    from rdplic.capture.recording import RecordingError
    from rdplic.capture.replay import replay_file

    files = capture_files(args.files)
    if args.timeout is not None and not (args.serve is not None or args.target):
        raise UsageError("--timeout goes with --target or --serve")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    started = time.monotonic()
    results: list[Any] = []
    if args.serve is not None:
        if args.target or args.update or len(files) != 1:
            raise UsageError("--serve takes one capture, without --target or --update")
        from rdplic.cli.replay_serve import replay_serve

        try:
            result = replay_serve(
                files[0],
                args.serve,
                timeout=120.0 if args.timeout is None else args.timeout,
                ready=lambda line: print(line, file=sys.stderr, flush=True),
            )
        except (CaptureError, RecordingError) as error:
            raise UsageError(str(error)) from None
        results = [result]
        if not args.json:
            _print(result, False, "this client")
        files_done, files = files, []
    elif args.target:
        if args.update:
            raise UsageError("--update rewrites captures from the cores, not from --target")
        from rdplic.cli.replay_live import parse_target, replay_live

        host, port = parse_target(args.target, args.allow_remote)
        try:
            results = replay_live(
                files, host, port, timeout=30.0 if args.timeout is None else args.timeout
            )
        except (CaptureError, RecordingError) as error:
            raise UsageError(str(error)) from None
        if not args.json:
            for result in results:
                _print(result, False, "live")
        files_done = files
        files = []
    else:
        files_done = files
    for number, path in enumerate(files, start=1):
        try:
            found = replay_file(path, update=args.update, build_client=build_client)
        except (CaptureError, RecordingError) as error:
            raise UsageError(str(error)) from None
        results.extend(found)
        if args.progress or (len(files) > 20 and sys.stderr.isatty()):
            print(f"[{number}/{len(files)}] {path}", file=sys.stderr)
        if not args.json:
            for result in found:
                _print(result, args.update)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    failed = counts.get("differs", 0) + counts.get("error", 0)
    failed += sum(1 for r in results if (r.structure or {}).get("verdict") == "differs")
    if args.json:
        summary = {
            "files": len(files_done),
            "connections": len(results),
            "verdicts": counts,
            "duration_seconds": round(time.monotonic() - started, 3),
            "updated": bool(args.update and failed),
            "results": [r.to_json() for r in results],
        }
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    if args.update:
        return 0
    return 1 if failed else 0


def _print(result: Any, update: bool, other: str = "replayed") -> None:
    _print_verdict(result, update, other)
    _print_structure(result)
    _print_substituted(result)


def _print_structure(result: Any) -> None:
    """A partial replay's structural verdict on the rest of the session."""
    structure = getattr(result, "structure", None)
    if not structure:
        return
    print(
        f"  the rest by structure: {structure['verdict']} "
        f"({structure['compared']} server PDUs compared)"
    )
    if structure["verdict"] == "differs":
        print(f"    frame {structure.get('frame')}: {structure.get('path')}")
        print(f"      recorded: {json.dumps(structure.get('recorded'))}")
        print(f"      replayed: {json.dumps(structure.get('replayed'))}")
    if structure["by_length"]:
        print("    compared by length (encrypted): " + ", ".join(structure["by_length"]))
    if structure.get("detail"):
        print(f"    {structure['detail']}")


def _print_substituted(result: Any) -> None:
    """What --serve sent otherwise than recorded (rdplic's keys standing in for another
    server's): one line per change, long values cut."""
    if not getattr(result, "substituted", None):
        return
    print("  sent otherwise than recorded:")
    for change in result.substituted:
        print(f"    frame {change['frame']}: {change['path']}")
        for name in ("recorded", "sent"):
            value = json.dumps(change[name])
            if len(value) > 72:
                value = value[:69] + "..."
            print(f"      {name}: {value}")
        print(f"      why: {change['reason']}")


def _print_verdict(result: Any, update: bool, other: str) -> None:
    head = f"{result.file} connection {result.connection} ({result.side}): {result.status}"
    if result.status in ("identical", "skipped"):
        print(f"{head} ({result.pdus} {result.side} PDUs)")
        return
    if result.status == "same-structure":
        print(f"{head} ({result.pdus} {result.side} PDUs)")
        print(f"  {result.detail}")
        return
    print(f"{head} at frame {result.frame}" + (" (updated)" if update else ""))
    if result.path:
        print(f"  {result.path}")
        print(f"    recorded: {json.dumps(result.recorded)}")
        print(f"    {other}: {json.dumps(result.replayed)}")
    if result.detail:
        print(f"  {result.detail}")


def register(subparsers: Any) -> None:
    """Add ``rdplic replay``."""
    parser = subparsers.add_parser(
        "replay",
        help="run recorded sessions again through rdplic's cores and compare",
        description=(
            "Replay the connections recorded in pcapng captures (rdplic serve --capture) "
            "offline against rdplic's own cores, and compare every server PDU."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="captures or directories")
    add_json_option(parser)
    parser.add_argument(
        "--update", action="store_true", help="rewrite captures that differ with today's PDUs"
    )
    parser.add_argument("--progress", action="store_true", help="one line per file on stderr")
    live = parser.add_argument_group(
        "live", "act as the recorded client (.client.pcapng) toward a running RDP server"
    )
    live.add_argument("--target", metavar="HOST:PORT", help="the server to replay against")
    live.add_argument(
        "--allow-remote", action="store_true", help="let --target be other than loopback"
    )
    live.add_argument(
        "--serve",
        type=int,
        metavar="PORT",
        help="serve the recorded server (rdplic's captured with secrets; any other server's "
        "with rdplic's keys standing in) to the next client on 127.0.0.1:PORT (0: a free "
        "port, printed on stderr) and compare that client",
    )
    live.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="--target: seconds for each connection [30]; --serve: seconds for the client to "
        "come and finish [120]",
    )
    add_examples(
        parser,
        "rdplic replay captures/",
        "rdplic replay --json session.pcapng",
        "rdplic replay --update session.pcapng",
        "rdplic replay --target 127.0.0.1:3389 device.client.pcapng",
        "rdplic replay --serve 33890 session.pcapng",
    )
    parser.set_defaults(func=_command)
