"""``rdplic store export FILE`` / ``rdplic store import FILE``: back up or move the license
database.

``export`` writes the whole license database - key packs, issued licenses with their
blobs, history, settings, the clock offset and the license server's identity - to FILE
(created 0600: it holds the license server's private key).  ``import`` loads such a file
into an empty store, SQLite (``--state-dir``) or PostgreSQL (``--db``), so that a
deployment moves between them with nothing lost (R80-R83).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rdplic.cli.admin_common import (
    add_actions,
    add_admin_command,
    add_common_options,
    admin,
    emit_json,
    wants_json,
)
from rdplic.cli.conventions import add_examples
from rdplic.errors import UsageError
from rdplic.files import open_private
from rdplic.identity import IdentityError, ServerIdentity
from rdplic.statedir import resolve_state_dir
from rdplic.store.transfer import export_store, import_store

__all__ = ["register"]

MAX_IMPORT = 1 << 32
"""Refuse exports above 4 GiB (one JSON document read whole)."""


def _state_license_server(args: argparse.Namespace) -> Any:
    """The state directory's license server (exported when the store holds none)."""
    if getattr(args, "db", None):
        return None
    state_dir = resolve_state_dir(getattr(args, "state_dir", None))
    try:
        return ServerIdentity.load(state_dir).license_server
    except IdentityError:
        return None


def _export(args: argparse.Namespace) -> int:
    with admin(args) as a:
        data = export_store(a.store, _state_license_server(args))
    if args.file == "-":
        sys.stdout.buffer.write(data)
        return 0
    try:
        with open_private(args.file) as out:
            out.write(data)
    except OSError as error:
        raise UsageError(f"cannot write {args.file}: {error.strerror}") from None
    if wants_json(args):
        emit_json({"file": args.file, "bytes": len(data)})
    return 0


def _import(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read(MAX_IMPORT + 1)
        else:
            with open(args.file, "rb") as source:
                data = source.read(MAX_IMPORT + 1)
    except OSError as error:
        raise UsageError(f"cannot read {args.file}: {error.strerror}") from None
    if len(data) > MAX_IMPORT:
        raise UsageError(f"{args.file} is larger than 4 GiB")
    with admin(args, create=True) as a:
        counts = import_store(a.store, data)
    if wants_json(args):
        emit_json(counts)
    else:
        print(", ".join(f"{n} {t.replace('_', ' ')}" for t, n in counts.items()) + " imported")
    return 0


def register(subparsers: Any) -> None:
    parser = add_admin_command(
        subparsers, "store", help="export or import the whole license database", doc=__doc__
    )
    add_examples(
        parser,
        "rdplic store export backup.json",
        "rdplic store import backup.json --db postgresql://rdplic@db.example/rdplic",
    )
    actions = add_actions(parser)
    export = actions.add_parser("export", help="write the whole license database to FILE")
    export.add_argument("file", metavar="FILE", help="where to write ('-': stdout)")
    add_examples(export, "rdplic store export backup.json --state-dir /srv/rdplic")
    add_common_options(export)
    export.set_defaults(func=_export)
    load = actions.add_parser("import", help="load FILE into an empty store")
    load.add_argument("file", metavar="FILE", help="an export ('-': stdin)")
    add_examples(
        load, "rdplic store import backup.json --db postgresql:///rdplic?host=/run/postgresql"
    )
    add_common_options(load)
    load.set_defaults(func=_import)
