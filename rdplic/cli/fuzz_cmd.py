"""``rdplic fuzz``: coverage-guided fuzzing of rdplic's parsers and machines (atheris).

``rdplic fuzz --list`` names every target (`rdplic.fuzz.targets.TARGETS`);
``rdplic fuzz TARGET --time 60s --corpus DIR`` fuzzes one, seeded from the spec examples,
the Windows frames and earlier findings, and writes every finding, minimised, to
``--findings DIR``.  Exit status: 0 when nothing was found, 1 when something was, 2 for bad
usage (an unknown target, atheris missing).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from rdplic.cli.conventions import add_examples, add_json_option, emit_json
from rdplic.errors import UsageError

__all__ = ["parse_duration", "register"]

_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in ``60s``, ``5m``, ``1h`` or a plain number of seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 60s, 5m, 1h)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _list(args: argparse.Namespace) -> int:
    from rdplic.fuzz.targets import TARGETS

    if args.json:
        emit_json([{"target": n, "description": t.description} for n, t in TARGETS.items()])
        return 0
    width = max(map(len, TARGETS))
    for name, target in TARGETS.items():
        print(f"{name:<{width}}  {target.description}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list(args)
    if not args.target:
        raise UsageError("name a target (rdplic fuzz --list names them)")
    from rdplic.fuzz.targets import TARGETS

    if args.target not in TARGETS:
        raise UsageError(f"unknown fuzz target {args.target!r} (rdplic fuzz --list names them)")
    try:
        import atheris  # noqa: F401
    except ImportError:
        raise UsageError("atheris is not installed: pip install 'rdplic[fuzz]'") from None
    from rdplic.fuzz import runner, seeds

    seed_dirs = args.seeds if args.seeds else None
    findings = args.findings or Path("fuzz-findings") / args.target.replace(":", "-")
    result = runner.run(
        args.target,
        seconds=args.time,
        corpus=args.corpus,
        seeds=seeds.load_seeds(seed_dirs),
        findings=findings,
        timeout=args.timeout,
        rss_limit_mb=args.rss_limit_mb,
        quiet=not args.verbose,
    )
    if args.json:
        emit_json(
            {
                "target": args.target,
                "status": result.status,
                "findings": [str(path) for path in result.findings],
            }
        )
        return 1 if result.findings else 0
    if result.status:
        print(result.status)
    for path in result.findings:
        print(f"finding: {path}")
    print(f"{len(result.findings)} finding(s) in {findings}")
    return 1 if result.findings else 0


def register(subparsers: Any) -> None:
    """Add ``rdplic fuzz``."""
    parser = subparsers.add_parser(
        "fuzz",
        help="fuzz rdplic's own decoders, crypto parsers and machines (atheris)",
        description=(
            "Coverage-guided fuzzing (atheris/libFuzzer) of one target; every input that "
            "raises anything but the target's documented errors, hangs or grows past the "
            "memory limit is saved, minimised. Needs pip install 'rdplic[fuzz]'."
        ),
    )
    parser.add_argument("target", nargs="?", metavar="TARGET", help="see --list")
    parser.add_argument("--list", action="store_true", help="name every target and exit")
    parser.add_argument(
        "--time",
        type=parse_duration,
        default=60.0,
        metavar="DURATION",
        help="how long to fuzz (60s, 5m, 1h; default 60s)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        metavar="DIR",
        help="the corpus folder, kept and grown between runs (default: a temporary one)",
    )
    parser.add_argument(
        "--seeds",
        type=Path,
        action="append",
        metavar="DIR",
        help="seed folder (*.hex as hex text, *.bin/*.der/*.cal raw; repeatable; default: "
        "the repository's tests/data and tests/regressions when run from a checkout)",
    )
    parser.add_argument(
        "--findings",
        type=Path,
        metavar="DIR",
        help="where findings go (default fuzz-findings/TARGET)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=5,
        metavar="SECONDS",
        help="an input taking longer is a hang (default 5)",
    )
    parser.add_argument(
        "--rss-limit-mb",
        type=int,
        default=2048,
        metavar="MB",
        help="memory past this is a finding (default 2048)",
    )
    parser.add_argument("--verbose", action="store_true", help="show libFuzzer's output")
    add_json_option(parser)
    add_examples(
        parser,
        "rdplic fuzz --list",
        "rdplic fuzz decode:licensing_pdu --time 60s --corpus corpus/licensing",
    )
    parser.set_defaults(func=_run)
