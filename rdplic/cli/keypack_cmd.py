"""``rdplic keypack add|list|remove``: the license server's installed CALs (R8-R17).

``add`` installs a key pack (retail, Open License or an agreement, R11), including
CALs the Clearinghouse reissued (``--reissued``: another installation, R17);
``list`` shows total / issued / available per pack, with the temporary and built-in
pools the server keeps itself (R18, R19: each appears once its first license is issued;
issued counts the temporary and active licenses, R15, as ``license list`` shows them);
``remove`` uninstalls a pack or takes N
unissued CALs out of it (R12).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from rdplic.cli.admin_common import (
    add_actions,
    add_admin_command,
    add_common_options,
    admin,
    emit_json,
    key_pack_json,
    parse_count,
    parse_date,
    parse_id,
    parse_option,
    print_table,
    wants_json,
)
from rdplic.cli.conventions import add_examples, plural
from rdplic.errors import UsageError
from rdplic.licensing import CalType, KeyPack, KeyPackType, LicensingProgram, ProductVersion

__all__ = ["register"]


def _add(args: argparse.Namespace) -> int:
    if args.type is None:
        raise UsageError("--type is required (per-device or per-user)")
    cal_type = parse_option(CalType.parse, args.type, "--type")
    count = parse_count(args.count)
    version = None
    if args.version is not None:
        version = parse_option(ProductVersion.parse, args.version, "--version")
    program = parse_option(LicensingProgram.parse, args.program, "--program")
    pack_type = None
    if args.key_pack_type is not None:
        pack_type = parse_option(KeyPackType.parse, args.key_pack_type, "--key-pack-type")
    expires = None if args.expires is None else parse_date(args.expires, "--expires")
    with admin(args, create=True) as a:
        pack = a.admin.add_key_pack(
            a.now(),
            cal_type=cal_type,
            count=count,
            version=version,
            program=program,
            key_pack_type=pack_type,
            reissued=args.reissued,
            agreement_number=args.agreement or "",
            expires=expires,
            description=args.description or "",
        )
    if wants_json(args):
        emit_json(key_pack_json(pack))
    else:
        print(
            f"installed key pack {pack.key_pack_id}: {pack.total} {pack.cal_type.label} "
            f"{'CAL' if pack.total == 1 else 'CALs'} "
            f"for {pack.product_version.title} ({pack.program.value}"
            f"{', reissued' if pack.reissued else ''})"
        )
    return 0


def _table(packs: list[KeyPack], now: datetime) -> None:
    rows = [
        (
            p.key_pack_id,
            str(p.product_version),
            p.cal_type.label,
            p.key_pack_type.label,
            p.program.value,
            "unlimited" if p.total is None else p.total,
            p.issued,
            "unlimited" if p.available is None else p.available,
            p.installed.strftime("%Y-%m-%d"),
            "yes" if p.reissued else "",
            "removed" if p.removed else ("expired" if p.expires and not p.usable(now) else ""),
        )
        for p in packs
    ]
    headers = ("ID", "VERSION", "CAL TYPE", "PACK TYPE", "PROGRAM", "TOTAL", "ISSUED")
    print_table((*headers, "AVAILABLE", "INSTALLED", "REISSUED", "STATE"), rows)


def _list(args: argparse.Namespace) -> int:
    with admin(args) as a:
        now = a.now()
        packs = a.admin.list_key_packs(now, include_removed=args.all)
    if wants_json(args):
        emit_json([key_pack_json(p) for p in packs])
    else:
        _table(packs, now)
    return 0


def _remove(args: argparse.Namespace) -> int:
    key_pack_id = parse_id(args.key_pack_id, "KEY_PACK_ID")
    count = None if args.count is None else parse_count(args.count)
    with admin(args, create=True) as a:
        pack = a.admin.remove_key_pack(key_pack_id, a.now(), count)
    if wants_json(args):
        emit_json(key_pack_json(pack))
    elif count is None:
        print(f"removed key pack {key_pack_id}")
    else:
        print(f"removed {plural(count, 'CAL')} from key pack {key_pack_id} ({pack.total} left)")
    return 0


def register(subparsers: Any) -> None:
    parser = add_admin_command(
        subparsers, "keypack", help="install, list and remove CAL key packs", doc=__doc__
    )
    add_examples(parser, "rdplic keypack add --type per-device --count 5", "rdplic keypack list")
    actions = add_actions(parser)

    add = actions.add_parser(
        "add",
        help="install a key pack (also a reissued one)",
        description="Install CALs, as the Install Licenses wizard of RD Licensing Manager.",
    )
    add_examples(
        add,
        "rdplic keypack add --type per-device --count 5",
        "rdplic keypack add --type per-user --count 50 --version 2019 "
        "--program enterprise-agreement --agreement 1234567",
    )
    add.add_argument(
        "--type",
        metavar="per-device|per-user",
        help="CAL type (required); per-seat, Windows 2000's name, means per-device",
    )
    add.add_argument("--count", metavar="N", help="number of CALs in the pack (required)")
    add.add_argument(
        "--version",
        metavar="V",
        help="CAL version, MAJOR.MINOR (10.1) or release (2019); default: the host's",
    )
    add.add_argument(
        "--program",
        default="retail",
        metavar="P",
        help="retail, open, select, enterprise-agreement, campus, school, "
        "service-provider or other (default: retail)",
    )
    add.add_argument(
        "--key-pack-type",
        metavar="T",
        help="retail, volume, concurrent or open (default: from the program)",
    )
    add.add_argument("--agreement", metavar="NUMBER", help="7-digit agreement number (R11)")
    add.add_argument("--expires", metavar="DATE", help="end date of a time-limited program")
    add.add_argument(
        "--reissued", action="store_true", help="CALs reissued by the Clearinghouse (R17)"
    )
    add.add_argument("--description", metavar="TEXT", help="free text shown in listings")
    add_common_options(add)
    add.set_defaults(func=_add)

    lst = actions.add_parser("list", help="list key packs with total / issued / available")
    lst.add_argument("--all", action="store_true", help="include removed key packs")
    add_examples(lst, "rdplic keypack list --json")
    add_common_options(lst)
    lst.set_defaults(func=_list)

    remove = actions.add_parser(
        "remove", help="uninstall a key pack, or remove N unissued CALs from it"
    )
    remove.add_argument("key_pack_id", metavar="KEY_PACK_ID")
    add_examples(remove, "rdplic keypack remove 1 --count 2", "rdplic keypack remove 3")
    remove.add_argument("--count", metavar="N", help="remove only N available CALs")
    add_common_options(remove)
    remove.set_defaults(func=_remove)
