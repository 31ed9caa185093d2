"""Fuzzing throughput: executions per second and coverage edges of each `rdplic fuzz` target.

Run: ``.venv/bin/python benchmarks/fuzz.py`` (``--seconds N`` per target, default 10;
``--targets decode:licensing_pdu,...``; default: the licensing message decoders and one target
of each other kind).  Needs the ``fuzz`` extra (atheris).

For each target it runs the fuzzer as ``rdplic fuzz`` does (one process on one core, the
target's packages instrumented at import and the licensing struct code, generated at run
time, instrumented explicitly: `rdplic.fuzz.runner`) for the given time, from the seed
corpus, and prints libFuzzer's final executions per second and coverage edges (``cov``).
Beside it, in the same run, the same target without any instrumentation on the seed inputs
mutated at random (plain Python, no fuzzer): the ratio is the price of the coverage.  The
issue's target: at least 20,000 per second for the licensing message decoders, with
coverage that guides (edges in the generated code as well: compare ``--no-generated``;
``RDPLIC_FUZZ_INSTRUMENT=pkg,pkg`` in the environment replaces the instrumented packages).

Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rdplic.fuzz import seeds  # noqa: E402
from rdplic.fuzz.targets import TARGETS  # noqa: E402

DEFAULT = [
    "decode:licensing_pdu",
    "decode:client_hardware_id",
    "decode:platform_challenge_response_data",
    "decode:new_license_info",
    "diff:licensing_pdu",
    "decode:mcs_pdu",
    "decode:client_info",
    "crypto:parse_license",
    "machine:server-tls",
]

_DONE = re.compile(r"DONE\s+cov: (\d+).*exec/s: (\d+)")


def fuzzed(name: str, seconds: int, corpus: Path, generated: bool) -> tuple[int, int]:
    """(exec/s, edges) of one atheris run of ``seconds``."""
    env = dict(os.environ, RDPLIC_FUZZ_GENERATED="1" if generated else "0")
    with tempfile.TemporaryDirectory() as findings:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "rdplic.fuzz.runner",
                name,
                findings,
                str(corpus),
                f"-max_total_time={seconds}",
                "-print_final_stats=1",
            ],
            capture_output=True,
            text=True,
            check=False,
            env=env,
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
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--targets", default=",".join(DEFAULT))
    parser.add_argument(
        "--no-generated",
        action="store_true",
        help="do not instrument the generated struct code (to compare)",
    )
    args = parser.parse_args()
    corpus_seeds = seeds.load_seeds()
    print(f"{'target':<42} {'exec/s':>9} {'edges':>6} {'plain/s':>9} {'ratio':>6}")
    for name in args.targets.split(","):
        inputs = corpus_seeds[TARGETS[name].layer]
        with tempfile.TemporaryDirectory() as corpus:
            for index, data in enumerate(inputs):
                (Path(corpus) / f"seed-{index}").write_bytes(data)
            rate, edges = fuzzed(name, args.seconds, Path(corpus), not args.no_generated)
        base = plain(name, inputs, min(args.seconds, 3))
        ratio = base / rate if rate else float("nan")
        print(f"{name:<42} {rate:>9,} {edges:>6} {base:>9,.0f} {ratio:>5.1f}x", flush=True)


if __name__ == "__main__":
    main()
