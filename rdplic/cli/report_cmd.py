"""``rdplic report``: the license report Windows offers, as CSV, JSON or a table (R76, R77).

One report covers per-device and per-user CALs, as ``Win32_TSLicenseReport`` does:
summary rows per version and CAL type, the per-device CAL report and the per-user
CAL usage report. ``--kind`` picks one part; a CSV file is one table, so CSV needs
``--kind`` or ``-o DIRECTORY`` (one file per kind: summary.csv, per-device.csv,
per-user.csv). Rows keep the Windows names of Win32_TSLicenseReport's columns (R77).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from rdplic.cli.admin_common import add_common_options, admin, print_table
from rdplic.cli.conventions import add_examples, fail
from rdplic.licensing.report import REPORT_KINDS

__all__ = ["register"]

FORMATS = ("table", "csv", "json")
CSV_KINDS = tuple(kind for kind in REPORT_KINDS if kind != "all")


def _format(args: argparse.Namespace) -> str:
    """One way to ask for each format: ``--json`` is ``--format json``; ``--json`` with
    another ``--format`` is a contradiction, refused."""
    given = None if args.format is None else args.format.lower()
    if given is not None and given not in FORMATS:
        fail(f"--format must be csv, json or table, got {args.format!r}")
    if getattr(args, "json", False):
        if given not in (None, "json"):
            fail(f"--json asks for JSON but --format says {given}: give one of them")
        return "json"
    return given or "table"


def _report(args: argparse.Namespace) -> int:
    fmt = _format(args)
    kind = (args.kind or "all").lower()
    if kind not in REPORT_KINDS:
        fail(f"--kind must be one of {', '.join(REPORT_KINDS)}, got {args.kind!r}")
    to_directory = args.output is not None and Path(args.output).is_dir()
    if fmt == "csv" and kind == "all" and not to_directory:
        # One CSV file is one table (csv.DictReader): several kinds need several files.
        fail(
            f"--format csv writes one table: give --kind ({', '.join(CSV_KINDS)}), "
            "or -o DIRECTORY for one file per kind"
        )
    if to_directory and fmt != "csv":
        fail(f"-o {args.output} is a directory: only --format csv writes one file per kind")
    with admin(args) as a:
        report = a.admin.report(a.now())
    if fmt == "csv" and to_directory:
        kinds = CSV_KINDS if kind == "all" else (kind,)
        for one in kinds:
            _write(Path(args.output) / f"{one}.csv", report.to_csv(one))
        return 0
    if fmt == "csv":
        text = report.to_csv(kind)
    elif fmt == "json":
        text = json.dumps(report.to_dict(kind), indent=2) + "\n"
    else:
        text = _table(report.to_dict(kind))
    if args.output:
        _write(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror}")


def _table(data: dict[str, Any]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print(f"{data['host']}, scope {data['scope']}, generated {data['generated']}")
        for part in ("summary", "per_device", "per_user"):
            rows = data.get(part)
            if rows is None:
                continue
            print(f"\n[{part.replace('_', '-')}]")
            if rows:
                columns = list(rows[0])
                print_table(columns, [[r.get(c) for c in columns] for r in rows])
            else:
                print("(none)")
    return out.getvalue()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="per-device and per-user CAL reports (CSV, JSON or table)",
        description=__doc__.split("\n\n")[1].replace("``", "") if __doc__ else None,
    )
    add_examples(
        parser,
        "rdplic report",
        "rdplic report --format csv --kind per-device -o per-device.csv",
        "rdplic report --format csv -o reports/",
        "rdplic report --json",
    )
    parser.add_argument(
        "--format", metavar="csv|json|table", help="output format (table; --json is json)"
    )
    parser.add_argument(
        "--kind", metavar="|".join(REPORT_KINDS), help="which part of the report (all)"
    )
    parser.add_argument(
        "--output", "-o", metavar="FILE|DIR", help="write to FILE (CSV: one file per kind in DIR)"
    )
    add_common_options(parser, leaf=False)
    parser.set_defaults(func=_report)
