"""Fuzzing throughput: executions per second and coverage edges of each `rdplic fuzz` target.

Run: ``.venv/bin/python benchmarks/fuzz.py`` (``--seconds N`` per run, default 5;
``--repeat N`` runs of each, default 3; ``--targets decode:licensing_pdu,...``; default: the
licensing message decoders, the licensing machines and one target of each other kind).
Needs the ``fuzz`` extra (atheris).

For each target it runs the fuzzer as ``rdplic fuzz`` does (one process on one core, only
the target's packages instrumented at import, the licensing struct code generated at run
time instrumented explicitly: `rdplic.fuzz.runner`) ``--repeat`` times from the seed
corpus, and prints libFuzzer's executions per second (median, and the lowest and highest
run: the machine is shared, the spread is its noise) and the coverage edges (``cov``) the
best run reached.  For the licensing message decoders the issue asks for at least 20,000 executions
per second with coverage that guides; the ``target`` column is the median over 20,000.

``--compare`` runs, side by side in the same rounds (A, B, C, A, B, C...: the same noise),
the configurations that explain the figures: ``scoped`` (what ``rdplic fuzz`` runs),
``no-generated`` (the generated struct code left uninstrumented: fewer edges, the fuzzer
blind in the fast path) and ``all-rdplic`` (every rdplic module instrumented, the harness
too, which is what atheris's ``include`` silently did before).  The ``plain/s`` column is
the same target without any fuzzer or instrumentation on seeds with one byte changed at
random (a different input mix: an order of magnitude, not a ratio to trust).

Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rdplic.fuzz import seeds  # noqa: E402
from rdplic.fuzz.targets import TARGETS  # noqa: E402

LICENSING_DECODERS = [
    "decode:licensing_pdu",
    "decode:client_hardware_id",
    "decode:platform_challenge_response_data",
    "decode:new_license_info",
]
"""The targets the issue's 20,000 executions per second are about."""

GOAL = 20_000

DEFAULT = [
    *LICENSING_DECODERS,
    "diff:licensing_pdu",
    "licensing:server",
    "licensing:client",
    "decode:mcs_pdu",
    "decode:client_info",
    "crypto:parse_license",
    "machine:server-tls",
]

CONFIGURATIONS: dict[str, dict[str, str]] = {
    "scoped": {},
    "no-generated": {"RDPLIC_FUZZ_GENERATED": "0"},
    "all-rdplic": {"RDPLIC_FUZZ_INSTRUMENT": "rdplic"},
}
"""Environment of each configuration `--compare` runs (see `rdplic.fuzz.runner`)."""

_DONE = re.compile(r"DONE\s+cov: (\d+).*exec/s: (\d+)")


def fuzzed(name: str, seconds: int, inputs: list[bytes], env: dict[str, str]) -> tuple[int, int]:
    """(exec/s, edges) of one atheris run of ``seconds`` from a fresh corpus of ``inputs``."""
    with tempfile.TemporaryDirectory() as corpus, tempfile.TemporaryDirectory() as findings:
        for index, data in enumerate(inputs):
            (Path(corpus) / f"seed-{index}").write_bytes(data)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "rdplic.fuzz.runner",
                name,
                findings,
                corpus,
                f"-max_total_time={seconds}",
                "-print_final_stats=1",
            ],
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, **env),
        ).stderr
    match = _DONE.search(out)
    return (int(match.group(2)), int(match.group(1))) if match else (0, 0)


def plain(name: str, inputs: list[bytes], seconds: float) -> float:
    """Executions per second of the target on randomly mutated seeds, no instrumentation."""
    target = TARGETS[name]
    rng = random.Random(15)
    count, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for _ in range(100):
            data = bytearray(rng.choice(inputs) if inputs else b"")
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                target.run(bytes(data))
            except target.expected:
                pass
            except Exception:  # a finding: counted like any run here
                pass
            count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per run (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--targets", default=",".join(DEFAULT))
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run the no-generated and all-rdplic configurations, interleaved",
    )
    args = parser.parse_args()
    corpus_seeds = seeds.load_seeds()
    configurations = list(CONFIGURATIONS) if args.compare else ["scoped"]
    print(
        f"{'target':<40} {'config':<12} {'exec/s':>8} {'(min-max)':>17} {'edges':>5}"
        f" {'target':>7} {'plain/s':>8}"
    )
    for name in args.targets.split(","):
        inputs = corpus_seeds[TARGETS[name].layer]
        runs: dict[str, list[tuple[int, int]]] = {c: [] for c in configurations}
        for _ in range(args.repeat):  # interleaved: each round sees the same load
            for configuration in configurations:
                runs[configuration].append(
                    fuzzed(name, args.seconds, inputs, CONFIGURATIONS[configuration])
                )
        base = plain(name, inputs, min(args.seconds, 2))
        for configuration in configurations:
            rates = [rate for rate, _ in runs[configuration]]
            edges = max(edge for _, edge in runs[configuration])
            median = statistics.median(rates)
            spread = f"({min(rates):,}-{max(rates):,})"
            goal = f"{median / GOAL:.2f}x" if name in LICENSING_DECODERS else "-"
            print(
                f"{name:<40} {configuration:<12} {median:>8,.0f} {spread:>17} {edges:>5}"
                f" {goal:>7} {base:>8,.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
