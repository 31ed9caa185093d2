"""The conventions every ``rdplic`` subcommand follows (README "Exit status", "JSON vocabulary").

- Exit status: 0 done; 2 bad input or an everyday mistake (a port in use, a state directory
  that is a file, a file that cannot be written), as ONE line on stderr
  (``rdplic: error: ...``) and no traceback; 130 interrupted. Raise `fail` (or
  `rdplic.errors.UsageError`) and `rdplic.cli.main.main` prints it.
- Parsers: `OneLineParser` reports argparse's own errors the same way (one line, status 2,
  naming the command and pointing at its ``--help``), shows help as plain text with the
  command's examples (`add_examples`).
- JSON: ``--json`` (`add_json_option`) on every command that prints something; `emit_json`
  prints one document; keys and forms come from `rdplic.vocabulary` (`json_time` for
  times).
- Checks at start: `check_writable_file` for files a long-running command appends to later
  (``--log-file``, ``--tls-keylog``, ``--capture``), so the mistake shows before anything
  runs, not hours later.
- Words: `plural` for counts in sentences ("1 per-device CAL", "2 per-device CALs").

Commands of other modules (``rdplic client``, ``load``, ``replay``...) use these names.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from rdplic.errors import UsageError
from rdplic.vocabulary import rfc3339

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "OneLineParser",
    "PlainHelpFormatter",
    "add_examples",
    "add_json_option",
    "check_writable_file",
    "emit_json",
    "fail",
    "json_time",
    "plural",
]

EXIT_OK = 0
EXIT_USAGE = 2
"""Bad input or an everyday mistake: one line on stderr, nothing changed."""
EXIT_INTERRUPTED = 130


def fail(message: str) -> NoReturn:
    """Stop the command with ``rdplic: error: MESSAGE`` and exit status 2."""
    raise UsageError(message)


class PlainHelpFormatter(argparse.HelpFormatter):
    """Help as plain text: descriptions wrapped paragraph by paragraph, without the
    docstrings' markup (double backticks), and the examples block kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line + "\n" for line in text.splitlines()).rstrip("\n")
        paragraphs = [part for part in text.replace("``", "").split("\n\n") if part.strip()]
        fill = super()._fill_text
        return "\n\n".join(fill(part, width, indent) for part in paragraphs)


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser with its errors on one line and help as plain text.

    argparse prints a usage block and then the error; for a mistyped option the error is
    what matters, so it is the one line (``rdplic clock advance: error: ...; see rdplic
    clock advance --help``), with exit status 2 as for every other mistake.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", PlainHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Remember, in ``command_parser``, the innermost command that parsed the line.

        argparse hands a subcommand's leftover arguments back to the top parser, which
        would point at ``rdplic --help``; `rdplic.cli.main.main` refuses them through the
        command that was given (``rdplic license list: error: unrecognized arguments: ...;
        see rdplic license list --help``). The innermost parser finishes first, so the
        outer ones leave its name in place.
        """
        parsed, extras = super().parse_known_args(args, namespace)
        if getattr(parsed, "command_parser", None) is None:
            parsed.command_parser = self
        return parsed, extras


def add_examples(parser: argparse.ArgumentParser, *examples: str) -> None:
    """Show ``examples`` (command lines) at the end of the command's ``--help``."""
    lines = "\n".join(f"  {example}" for example in examples)
    parser.epilog = f"example{'s' if len(examples) > 1 else ''}:\n{lines}"


def add_json_option(parser: argparse.ArgumentParser, default: Any = False) -> None:
    """``--json``: print JSON in the vocabulary of `rdplic.vocabulary` instead of text."""
    parser.add_argument(
        "--json",
        action="store_true",
        default=default,
        help="print JSON (keys as in README, JSON vocabulary) instead of text",
    )


def emit_json(value: Any) -> None:
    """One JSON document on stdout (indented; a list for listings, an object otherwise)."""
    json.dump(value, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def json_time(moment: datetime | None) -> str | None:
    """A time in the vocabulary's form (`rdplic.vocabulary.rfc3339`), ``None`` when absent
    or when it is the store's "never" (year 9999)."""
    if moment is None or moment.year >= 9999:
        return None
    return rfc3339(moment)


def check_writable_file(path: str | os.PathLike[str] | None, option: str) -> None:
    """Refuse, at start, a file ``option`` names that cannot be appended to.

    The file is opened for appending (created 0600 when missing, and removed again if this
    check created it), so a directory, a missing parent or a read-only place is one line
    now rather than a traceback when the first connection writes to it.
    """
    if path is None:
        return
    target = Path(path)
    existed = target.exists()
    if target.is_dir():
        fail(f"{option} {target}: is a directory")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as error:
        fail(f"{option} {target}: cannot write: {error.strerror or error}")
    os.close(fd)
    if not existed:
        target.unlink(missing_ok=True)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 CAL``, ``2 CALs``; ``words`` for irregular plurals."""
    return f"{count} {word if count == 1 else (words or word + 's')}"
