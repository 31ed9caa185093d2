"""Entry point of the ``rdplic`` command.

Each subcommand lives in its own module with a ``register(subparsers)``
function that adds its parser and sets ``func`` (called with the parsed
namespace, returning the exit status).  Bad input never shows a traceback:
`RdplicError` and `PduError` become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rdplic import __version__
from rdplic.errors import RdplicError
from rdplic.pdu.errors import PduError

__all__ = ["build_parser", "main"]

# Order is the order of `rdplic --help`.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "rdplic.cli.serve_cmd",
    "rdplic.cli.pdu_cmd",
    "rdplic.cli.keys_cmd",
    "rdplic.cli.keypack_cmd",
    "rdplic.cli.license_cmd",
    "rdplic.cli.history_cmd",
    "rdplic.cli.report_cmd",
    "rdplic.cli.clock_cmd",
    "rdplic.cli.config_cmd",
    "rdplic.cli.store_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rdplic",
        description="RDP licensing (MS-RDPELE) emulator and license server.",
    )
    parser.add_argument("--version", action="version", version=f"rdplic {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except (RdplicError, PduError) as error:
        print(f"rdplic: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
