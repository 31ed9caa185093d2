"""What the rdplic subcommands share: options, the store, input, output as tables or JSON.

Every administration command takes ``--state-dir DIR`` (default: the directory
``rdplic serve`` uses, `rdplic.statedir`) and ``--json``. Commands that change
state validate their input first and change the store in one transaction, so a
refused command (exit status 2, one line on stderr) has changed nothing; commands
that only read never create a state directory (`admin` with ``create=False``).
The JSON of licenses, key packs and history events is in the vocabulary of
`rdplic.vocabulary` (README "JSON vocabulary"); the conventions are
`rdplic.cli.conventions`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from rdplic.cli.conventions import add_json_option, emit_json, json_time
from rdplic.errors import UsageError
from rdplic.identity import IdentityError, ServerIdentity
from rdplic.licensing import (
    HistoryEvent,
    IssuedLicense,
    KeyPack,
    LicenseAdmin,
    SystemClock,
)
from rdplic.statedir import existing_state_dir, state_dir_warning, usable_state_dir
from rdplic.store import LicenseStore, open_store, read_clock_offset

__all__ = [
    "Admin",
    "add_actions",
    "add_admin_command",
    "add_common_options",
    "add_state_dir_option",
    "admin",
    "emit_json",
    "event_json",
    "key_pack_json",
    "license_json",
    "load_identity",
    "parse_count",
    "parse_hex",
    "parse_id",
    "parse_option",
    "print_table",
    "read_input",
]

T = TypeVar("T")

MAX_INPUT = 1 << 20
"""Refuse inputs above 1 MiB: a frame is at most 64 KiB, a license fits one licensing PDU,
and their hex or PEM text stays well below."""


def add_admin_command(
    subparsers: Any, name: str, *, help: str, doc: str | None
) -> argparse.ArgumentParser:
    """``rdplic NAME`` with the common options; its description is the second paragraph of
    ``doc`` (the command module's docstring)."""
    description = doc.split("\n\n")[1].replace("``", "") if doc else None
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=description
    )
    add_common_options(parser, leaf=False)
    return parser


def add_actions(parser: argparse.ArgumentParser, dest: str = "action") -> Any:
    """The required ACTION of a command (``rdplic keypack add``...)."""
    actions = parser.add_subparsers(dest=dest, metavar="ACTION")
    actions.required = True
    return actions


def add_state_dir_option(
    parser: argparse.ArgumentParser,
    default: Any = argparse.SUPPRESS,
    help: str = "state directory (default: $RDPLIC_STATE_DIR or the XDG data directory)",
) -> None:
    """``--state-dir DIR``; SUPPRESS keeps a value given before the action name."""
    parser.add_argument("--state-dir", metavar="DIR", default=default, help=help)


def add_common_options(parser: argparse.ArgumentParser, *, leaf: bool = True) -> None:
    """``--state-dir`` and ``--json``, accepted before or after the action name."""
    default = argparse.SUPPRESS if leaf else None
    add_state_dir_option(parser, default)
    parser.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help="shared license database postgresql://... (default: the state directory's SQLite)",
    )
    add_json_option(parser, default if leaf else False)


@dataclass(frozen=True, slots=True)
class Admin:
    """The license server's administration over the state directory's store, and the
    server's clock."""

    admin: LicenseAdmin
    store: LicenseStore
    clock: SystemClock

    def now(self) -> datetime:
        return self.clock.now()


@contextmanager
def admin(args: argparse.Namespace, *, create: bool = False) -> Iterator[Admin]:
    """Open the store of ``--state-dir`` for one command: created on first use by a
    command that changes state (``create``), required to exist for one that only reads;
    or the shared PostgreSQL database of ``--db`` (created and migrated on first use)."""
    db = getattr(args, "db", None)
    if db:
        if not db.startswith(("postgresql://", "postgres://")):
            raise UsageError("--db must be a postgresql:// URL")
        store = open_store("", db=db)
    else:
        state_dir = usable_state_dir(getattr(args, "state_dir", None), create=create)
        warning = state_dir_warning(state_dir)
        if warning:
            print(f"rdplic: warning: {warning}", file=sys.stderr)
        store = open_store(state_dir)
    try:
        clock = SystemClock(offset=lambda: read_clock_offset(store))
        yield Admin(LicenseAdmin(store), store, clock)
    finally:
        store.close()


def load_identity(args: argparse.Namespace) -> ServerIdentity:
    """The server identity of ``--state-dir`` (or the default state directory), not created."""
    state_dir = existing_state_dir(getattr(args, "state_dir", None), require_store=False)
    try:
        return ServerIdentity.load(state_dir)
    except IdentityError as error:
        raise UsageError(str(error)) from None


def read_input(path: str | None) -> bytes:
    """The bytes of file ``path`` (stdin for None or ``-``), refused above `MAX_INPUT`."""
    where = "stdin" if path is None or path == "-" else path
    try:
        if where == "stdin":
            data = sys.stdin.buffer.read(MAX_INPUT + 1)
        else:
            with open(where, "rb") as stream:
                data = stream.read(MAX_INPUT + 1)
    except OSError as error:
        raise UsageError(f"cannot read {where}: {error.strerror}") from None
    if len(data) > MAX_INPUT:
        raise UsageError(f"{where}: more than {MAX_INPUT} bytes")
    return data


def parse_hex(text: object, what: str) -> bytes:
    """Bytes written as hex digits; whitespace and colons between them are ignored."""
    if not isinstance(text, str):
        raise UsageError(f"{what}: expected hex")
    try:
        return bytes.fromhex("".join(text.replace(":", " ").split()))
    except ValueError:
        raise UsageError(f"{what}: not valid hex") from None


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table (what Licensing Manager would show as a grid)."""
    text_rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()
    print(line)
    print("  ".join("-" * w for w in widths).rstrip())
    for row in text_rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    if not text_rows:
        print("(none)")


def parse_id(text: str, what: str) -> int:
    try:
        value = int(text, 0)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    return value


def parse_option(parse: Callable[[str], T], text: str, what: str) -> T:
    """``parse(text)``, its ValueError becoming the one-line usage error ``WHAT: reason``."""
    try:
        return parse(text)
    except ValueError as error:
        raise UsageError(f"{what}: {error}") from None


def parse_count(text: str | None, what: str = "--count") -> int:
    if text is None:
        raise UsageError(f"{what} is required")
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{what} must be a whole number, got {text!r}") from None


def parse_date(text: str, what: str) -> datetime:
    """ISO date or date-time; a date without zone is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what} must be a date like 2026-06-30, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def key_pack_json(pack: KeyPack) -> dict[str, Any]:
    """A key pack in the JSON vocabulary (``issued_count``: its CALs issued and not
    returned; ``issued`` is kept for a license's time of issue)."""
    return {
        "key_pack_id": pack.key_pack_id,
        "version": str(pack.product_version),
        "product_version": pack.product_version.title,
        "product_version_id": pack.product_version.product_version_id,
        "cal_type": pack.cal_type.label,
        "key_pack_type": pack.key_pack_type.label,
        "program": pack.program.value,
        "total": pack.total,
        "issued_count": pack.issued,
        "available": pack.available,
        "installed": json_time(pack.installed),
        "expires": json_time(pack.expires),
        "reissued": pack.reissued,
        "agreement_number": pack.agreement_number or None,
        "description": pack.description,
        "transferred_from": pack.transferred_from,
        "removed": json_time(pack.removed),
    }


def license_json(lic: IssuedLicense) -> dict[str, Any]:
    """A license in the JSON vocabulary."""
    return {
        "license_id": lic.license_id,
        "status": lic.status.label,
        "client_name": lic.machine_name,
        "user_name": lic.user_name,
        "hwid": lic.hwid.hex(),
        "version": str(lic.product_version),
        "issued": json_time(lic.issued),
        "expires": json_time(lic.expires),
        "cal_type": lic.cal_type.label,
        "temporary": lic.temporary,
        "validated": lic.validated,
        "key_pack_id": lic.key_pack_id,
        "platform_id": lic.platform_id,
        "revoked": json_time(lic.revoked),
        "renewed": json_time(lic.renewed),
        "upgraded_to": lic.upgraded_to,
        "transferred": lic.transferred,
    }


def event_json(event: HistoryEvent) -> dict[str, Any]:
    """A history event in the JSON vocabulary (``time``: when it happened)."""
    return {
        "event_id": event.event_id,
        "time": json_time(event.at),
        "event": event.kind.value,
        "license_id": event.license_id,
        "key_pack_id": event.key_pack_id,
        "hwid": event.hwid.hex() or None,
        "client_name": event.machine_name,
        "user_name": event.user_name,
        "detail": event.detail,
        "rule": event.rule or None,
        "host": event.host or None,
    }
