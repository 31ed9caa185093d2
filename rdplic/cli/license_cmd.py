"""``rdplic license list|show|revoke|transfer|validate|inspect``: the licenses the server issued.

``list`` and ``show`` read the issuance database (R21), reclaiming expired CALs
first (R25); ``revoke`` returns a per-device CAL to its pool at once, within the
20 %-per-version quota (R49-R51); ``transfer`` is KB 315262's one-time transfer of
a CAL to another device (R54); ``validate`` marks a temporary license as a logon
would (R28); ``inspect`` decodes a license file (rdplic.cli.license_inspect).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from rdplic.cli.admin_common import (
    add_actions,
    add_admin_command,
    add_common_options,
    admin,
    emit_json,
    event_json,
    key_pack_json,
    license_json,
    parse_id,
    parse_option,
    print_table,
    wants_json,
)
from rdplic.cli.conventions import add_examples, json_time, plural
from rdplic.cli.license_inspect import register_inspect
from rdplic.errors import UsageError
from rdplic.licensing import CalType, IssuedLicense, LicenseStatus, RevocationQuotaExceeded
from rdplic.licensing.model import parse_hwid
from rdplic.store import LicenseQuery

__all__ = ["register"]


def _query(args: argparse.Namespace) -> LicenseQuery:
    statuses = None
    if args.status:
        statuses = parse_option(_statuses, args.status, "--status")
    return LicenseQuery(
        hwid=parse_option(parse_hwid, args.hwid, "--hwid") if args.hwid else None,
        machine_name=args.client,
        user_name=args.user,
        statuses=statuses,
        cal_type=parse_option(CalType.parse, args.type, "--type") if args.type else None,
        key_pack_id=None if args.key_pack is None else parse_id(args.key_pack, "--key-pack"),
    )


def _statuses(text: str) -> list[LicenseStatus]:
    return [LicenseStatus.parse(s) for s in text.split(",") if s.strip()]


def _table(licenses: list[IssuedLicense]) -> None:
    rows = [
        (
            lic.license_id,
            lic.status.label,
            lic.cal_type.label,
            str(lic.product_version),
            lic.machine_name,
            lic.user_name,
            lic.hwid.hex()[:16] + "…",
            lic.issued.strftime("%Y-%m-%d %H:%M"),
            lic.expires.strftime("%Y-%m-%d %H:%M"),
            "" if lic.key_pack_id is None else lic.key_pack_id,
        )
        for lic in licenses
    ]
    headers = ("ID", "STATUS", "CAL TYPE", "VERSION", "CLIENT", "USER", "HWID", "ISSUED")
    print_table((*headers, "EXPIRES", "PACK"), rows)


def _list(args: argparse.Namespace) -> int:
    query = _query(args)
    with admin(args) as a:
        licenses = a.admin.list_licenses(a.now(), query)
    if wants_json(args):
        emit_json([license_json(lic) for lic in licenses])
    else:
        _table(licenses)
    return 0


def _show(args: argparse.Namespace) -> int:
    license_id = parse_id(args.license_id, "LICENSE_ID")
    with admin(args) as a:
        a.admin.reclaim(a.now())
        lic, blob, events = a.admin.get_license(license_id)
    if args.blob is not None:
        if blob is None:
            raise UsageError(f"license {license_id} is a per-user CAL: it has no license blob")
        try:
            Path(args.blob).write_bytes(blob)
        except OSError as error:
            raise UsageError(f"cannot write {args.blob}: {error.strerror}") from None
    out = license_json(lic)
    out["blob_size"] = None if blob is None else len(blob)
    out["blob_sha256"] = None if blob is None else hashlib.sha256(blob).hexdigest()
    out["history"] = [event_json(e) for e in events]
    if wants_json(args):
        emit_json(out)
        return 0
    for key, value in out.items():
        if key != "history":
            print(f"{key:>14}: {'' if value is None else value}")
    print()
    print_table(
        ("TIME", "EVENT", "DETAIL"),
        [(json_time(e.at), e.kind.value, e.detail) for e in events],
    )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    license_id = parse_id(args.license_id, "LICENSE_ID")
    with admin(args, create=True) as a:
        try:
            result = a.admin.revoke(license_id, a.now())
        except RevocationQuotaExceeded as error:
            if wants_json(args):  # the failure's out parameters, as WMI's Revoke gives them
                emit_json(
                    {
                        "license_id": license_id,
                        "error": str(error),
                        "revokable_cals": error.revokable_cals,
                        "next_revoke_allowed": json_time(error.next_revoke_allowed_on),
                    }
                )
            raise
    if wants_json(args):
        emit_json(
            {
                "license": license_json(result.license),
                "revokable_cals": result.revokable_cals,
                "next_revoke_allowed": json_time(result.next_revoke_allowed_on),
            }
        )
    else:
        print(
            f"revoked license {license_id}; its CAL is available again "
            f"({plural(result.revokable_cals, 'more revocation')} allowed for "
            f"{result.license.product_version} CALs now)"
        )
    return 0


def _transfer(args: argparse.Namespace) -> int:
    license_id = parse_id(args.license_id, "LICENSE_ID")
    target = (args.to or "").strip()
    if len(target) > 255 or not target.isprintable():
        raise UsageError("--to must be a printable machine name")
    with admin(args, create=True) as a:
        result = a.admin.transfer(license_id, a.now(), to=target)
    if wants_json(args):
        emit_json(
            {
                "license": license_json(result.license),
                "reissued_key_pack": key_pack_json(result.reissued_key_pack),
            }
        )
    else:
        print(
            f"license {license_id} transferred: revoked from {result.license.machine_name}, "
            f"reissued as key pack {result.reissued_key_pack.key_pack_id}"
        )
    return 0


def _validate(args: argparse.Namespace) -> int:
    license_id = parse_id(args.license_id, "LICENSE_ID")
    with admin(args, create=True) as a:
        lic = a.admin.mark_validated(license_id, a.now())
    if wants_json(args):
        emit_json(license_json(lic))
    else:
        print(f"license {license_id} is validated: it can be upgraded to a permanent CAL (R28)")
    return 0


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", metavar="S[,S]", help="temporary, active, upgraded, ...")
    parser.add_argument("--client", metavar="NAME", help="client machine name")
    parser.add_argument("--user", metavar="NAME", help="user name")
    parser.add_argument("--hwid", metavar="HEX", help="client hardware id (40 hex digits)")
    parser.add_argument("--type", metavar="per-device|per-user", help="CAL type")
    parser.add_argument("--key-pack", metavar="ID", help="key pack id")


def register(subparsers: Any) -> None:
    parser = add_admin_command(
        subparsers,
        "license",
        help="list, show, revoke and transfer issued licenses; inspect license files",
        doc=__doc__,
    )
    add_examples(parser, "rdplic license list", "rdplic license revoke 7")
    actions = add_actions(parser)

    lst = actions.add_parser("list", help="issued licenses (one row / object each)")
    add_examples(lst, "rdplic license list --status active,temporary --json")
    _filters(lst)
    add_common_options(lst)
    lst.set_defaults(func=_list)

    show = actions.add_parser("show", help="one license with its history")
    show.add_argument("license_id", metavar="LICENSE_ID")
    add_examples(show, "rdplic license show 7 --blob pc1.lic")
    show.add_argument("--blob", metavar="FILE", help="also write the license blob to FILE")
    add_common_options(show)
    show.set_defaults(func=_show)

    revoke = actions.add_parser("revoke", help="revoke a per-device CAL (R49-R51)")
    revoke.add_argument("license_id", metavar="LICENSE_ID")
    add_examples(revoke, "rdplic license revoke 7")
    add_common_options(revoke)
    revoke.set_defaults(func=_revoke)

    transfer = actions.add_parser(
        "transfer", help="transfer a per-device CAL once to another device (KB 315262)"
    )
    transfer.add_argument("license_id", metavar="LICENSE_ID")
    add_examples(transfer, "rdplic license transfer 7 --to NEW-PC")
    transfer.add_argument("--to", metavar="NAME", help="the receiving computer (for the history)")
    add_common_options(transfer)
    transfer.set_defaults(func=_transfer)

    validate = actions.add_parser(
        "validate",
        help="mark a temporary license validated, as a logon does (R28; with "
        "auto_validate_temporary=no only validated ones are upgraded)",
    )
    validate.add_argument("license_id", metavar="LICENSE_ID")
    add_examples(validate, "rdplic license validate 3")
    add_common_options(validate)
    validate.set_defaults(func=_validate)

    register_inspect(actions)
