"""``rdplic report``: the license report Windows offers, as CSV, JSON or a table (R76, R77).

One report covers per-device and per-user CALs, as ``Win32_TSLicenseReport`` does:
summary rows per version and CAL type, the per-device CAL report and the per-user
CAL usage report. ``--kind`` picks one part; CSV of one part is a plain table.
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
from rdplic.errors import UsageError
from rdplic.licensing.report import REPORT_KINDS

__all__ = ["register"]

FORMATS = ("table", "csv", "json")


def _report(args: argparse.Namespace) -> int:
    fmt = "json" if getattr(args, "json", False) else (args.format or "table").lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format must be csv, json or table, got {args.format!r}")
    kind = (args.kind or "all").lower()
    if kind not in REPORT_KINDS:
        raise UsageError(f"--kind must be one of {', '.join(REPORT_KINDS)}, got {args.kind!r}")
    with admin(args) as a:
        report = a.admin.report(a.now())
    if fmt == "csv":
        text = report.to_csv(kind)
    elif fmt == "json":
        text = json.dumps(report.to_dict(kind), indent=2) + "\n"
    else:
        text = _table(report.to_dict(kind))
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {args.output}: {error.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0


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
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--format", metavar="csv|json|table", help="output format (table)")
    parser.add_argument(
        "--kind", metavar="|".join(REPORT_KINDS), help="which part of the report (all)"
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE")
    add_common_options(parser, leaf=False)
    parser.set_defaults(func=_report)
