"""``rdplic history [CLIENT]``: the issuance history, for one client or all (R24).

The history is append-only and lives on the server: deleting a client's license
store (R73) does not touch it. CLIENT is a machine name or a 40-digit HWID.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from rdplic.cli.admin_common import (
    add_common_options,
    admin,
    emit_json,
    event_json,
    parse_id,
    parse_option,
    print_table,
    wants_json,
)
from rdplic.cli.conventions import add_examples, json_time
from rdplic.errors import UsageError
from rdplic.licensing import HistoryKind
from rdplic.licensing.model import parse_hwid
from rdplic.store import HistoryQuery

__all__ = ["register"]


def _query(args: argparse.Namespace) -> HistoryQuery:
    hwid = None
    machine = None
    client = args.client
    if args.hwid:
        client = args.hwid
    if client is not None:
        compact = re.sub(r"[\s:\-]", "", client.removeprefix("0x"))
        if args.hwid or re.fullmatch(r"[0-9a-fA-F]{40}", compact):
            hwid = parse_option(parse_hwid, client, "hardware id")
        else:
            machine = client
    kinds = None
    if args.event:
        try:
            kinds = [HistoryKind(k.strip().lower()) for k in args.event.split(",") if k.strip()]
        except ValueError:
            names = ", ".join(k.value for k in HistoryKind)
            raise UsageError(f"--event must be among {names}") from None
    return HistoryQuery(
        hwid=hwid,
        machine_name=machine,
        user_name=args.user,
        license_id=None if args.license is None else parse_id(args.license, "--license"),
        key_pack_id=None if args.key_pack is None else parse_id(args.key_pack, "--key-pack"),
        kinds=kinds,
    )


def _history(args: argparse.Namespace) -> int:
    query = _query(args)
    with admin(args) as a:
        a.admin.reclaim(a.now())  # expiries that happened are part of the history
        events = a.admin.history(query)
    if wants_json(args):
        emit_json([event_json(e) for e in events])
        return 0
    rows = [
        (
            json_time(e.at),
            e.kind.value,
            "" if e.license_id is None else e.license_id,
            "" if e.key_pack_id is None else e.key_pack_id,
            e.machine_name,
            e.user_name,
            e.host,
            e.detail,
        )
        for e in events
    ]
    print_table(("TIME", "EVENT", "LICENSE", "PACK", "CLIENT", "USER", "HOST", "DETAIL"), rows)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="the issuance history, for one client or all",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    add_examples(parser, "rdplic history", "rdplic history PC1 --json")
    parser.add_argument("client", nargs="?", metavar="CLIENT", help="machine name or HWID")
    parser.add_argument("--hwid", metavar="HEX", help="client hardware id")
    parser.add_argument("--user", metavar="NAME", help="user name")
    parser.add_argument("--license", metavar="ID", help="one license")
    parser.add_argument("--key-pack", metavar="ID", help="one key pack")
    parser.add_argument("--event", metavar="KIND[,KIND]", help="only these events")
    add_common_options(parser, leaf=False)
    parser.set_defaults(func=_history)
