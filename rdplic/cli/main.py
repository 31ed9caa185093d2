# PYTHON_ARGCOMPLETE_OK
"""Entry point of the ``rdplic`` command.

Each subcommand lives in its own module with a ``register(subparsers)``
function that adds its parser and sets ``func`` (called with the parsed
namespace, returning the exit status).  Bad input never shows a traceback:
`RdplicError` and `PduError` become one line on stderr and exit status 2
(`rdplic.cli.conventions`, which every subcommand follows).  Completion for bash and zsh
comes from argcomplete (README "Shell completion").
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import argcomplete

from rdplic import __version__
from rdplic.cli.conventions import EXIT_INTERRUPTED, EXIT_USAGE, OneLineParser, add_examples
from rdplic.errors import RdplicError
from rdplic.pdu.errors import PduError

__all__ = ["build_parser", "main"]

# Order is the order of `rdplic --help`.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "rdplic.cli.serve_cmd",
    "rdplic.cli.pdu_cmd",
    "rdplic.cli.replay_cmd",
    "rdplic.cli.keys_cmd",
    "rdplic.cli.keypack_cmd",
    "rdplic.cli.license_cmd",
    "rdplic.cli.history_cmd",
    "rdplic.cli.report_cmd",
    "rdplic.cli.clock_cmd",
    "rdplic.cli.config_cmd",
    "rdplic.cli.client_cmd",
    "rdplic.cli.load_cmd",
    "rdplic.cli.explain_cmd",
    "rdplic.cli.fuzz_cmd",
    "rdplic.cli.store_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rdplic",
        description="RDP licensing (MS-RDPELE) emulator and license server.",
    )
    add_examples(
        parser,
        "rdplic serve --port 33890 --state-dir /tmp/lab",
        "rdplic license list --json --state-dir /tmp/lab",
        "rdplic COMMAND --help",
    )
    parser.add_argument("--version", action="version", version=f"rdplic {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argcomplete.autocomplete(parser)
    # Known arguments first: an argument such as ``-5d`` (which argparse takes for an
    # option) reaches the command, which can say what is wrong with it; any other
    # leftover is refused as argparse would.
    args, extras = parser.parse_known_args(argv)
    if extras and not getattr(args, "takes_extras", False):
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(extras)}")
    args.extras = extras
    try:
        status = args.func(args)
    except (RdplicError, PduError) as error:
        print(f"rdplic: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
