"""How fast ``rdplic replay`` runs captures offline, against what their cryptography allows.

    .venv/bin/python benchmarks/replay.py [DIR] [--seconds 3]

DIR (default captures/rdplic-serve) holds captures recorded with ``--capture-secrets``.
The benchmark, in one process on one core:

1. reads every capture once and keeps its recorded connections;
2. records the crypto calls each session's replay makes (raw RSA of the client random and of
   the premaster secret, key derivations, RC4 and MACs, license signature checks) with the
   recorder ``benchmarks/serve.py`` uses for its own reference (`handshake_crypto`);
3. then, in alternating blocks so that both see the machine alike (a virtual machine's
   speed drifts), times (a) the replay of every session against the cores with its
   comparison (`rdplic.capture.replay.replay_connection`), (b) the same with reading the
   files (`replay_file`, what ``rdplic replay`` does), and (c) the recorded crypto alone;
   each figure is the median over the blocks.

It prints sessions per second for (a), (b) and (c), and the ratios (a)/(c) and (b)/(c):
how close offline replay comes to the rate the recorded cryptography alone allows.
Nothing is asserted (benchmarks never fail the suite).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from handshake_crypto import CryptoCall, CryptoRecorder  # noqa: E402

from rdplic.capture.pcap import read_capture  # noqa: E402
from rdplic.capture.replay import _run_server, recordings, replay_connection, replay_file  # noqa: E402


def replay(calls: list[CryptoCall], costs: dict[str, float]) -> None:
    """`handshake_crypto.replay`, where a call may raise as it did when recorded (the
    signature check of a tampered license)."""
    objects: dict[int, Any] = {}
    clock = time.perf_counter
    for call in calls:
        started = clock()
        try:
            if call.kind == "new":
                objects[call.obj] = call.target(*call.args, **call.kwargs)
            elif call.kind == "method":
                call.target(objects[call.obj], *call.args, **call.kwargs)
            else:
                call.target(*call.args, **call.kwargs)
        except Exception:
            pass
        costs[call.label] = costs.get(call.label, 0.0) + clock() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=ROOT / "captures/rdplic-serve")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget [3]")
    args = parser.parse_args()
    files = sorted(args.directory.rglob("*.pcapng"))
    sessions: list[tuple[str, Any, Any]] = []
    for path in files:
        for connection in read_capture(path):
            recording = recordings(connection)
            if recording is not None and recording.secrets:
                sessions.append((str(path), connection, recording))
    files = sorted({Path(name) for name, _c, _r in sessions})  # the files with such sessions
    if not sessions:
        print(f"no capture recorded with secrets under {args.directory}")
        return 1
    for name, connection, recording in sessions:  # warm up (keys loaded once) and check
        result = replay_connection(name, connection, recording)
        if result.status != "identical":
            print(f"{name}: {result.status} (the figures below still count it)")

    recorder = CryptoRecorder()
    recorder.install()
    recorded = []
    try:
        for _name, connection, recording in sessions:
            recorder.calls = []
            recorder.active = True
            _run_server(recording, connection.data(True))
            recorder.active = False
            recorded.append(recorder.calls)
    finally:
        recorder.remove()

    def cores() -> None:
        for name, connection, recording in sessions:
            replay_connection(name, connection, recording)

    def with_files() -> None:
        for path in files:
            replay_file(path)

    def crypto() -> None:
        costs: dict[str, float] = {}
        for calls in recorded:
            replay(calls, costs)

    timings: dict[str, list[float]] = {"cores": [], "files": [], "crypto": []}
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds or len(timings["cores"]) < 3:
        for label, run in (("cores", cores), ("crypto", crypto), ("files", with_files)):
            block = time.perf_counter()
            run()
            timings[label].append(time.perf_counter() - block)
    count = len(sessions)
    rate = {label: count / statistics.median(values) for label, values in timings.items()}
    costs: dict[str, float] = {}
    for calls in recorded:
        replay(calls, costs)
    print(f"{count} recorded sessions from {len(files)} files, {len(timings['cores'])} blocks each")
    print(f"  replay against the cores (with the comparison): {rate['cores']:8.1f} sessions/s")
    print(f"  rdplic replay, files read too:                  {rate['files']:8.1f} sessions/s")
    print(f"  the recorded cryptography alone:                {rate['crypto']:8.1f} sessions/s")
    print(f"  ratio cores / crypto: {rate['cores'] / rate['crypto']:.2f}")
    print(f"  ratio files / crypto: {rate['files'] / rate['crypto']:.2f}")
    print("  crypto per session by step (one pass):")
    for label, seconds in sorted(costs.items(), key=lambda item: -item[1]):
        print(f"    {label:40s} {seconds / count * 1e6:9.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
