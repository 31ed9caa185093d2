"""``rdplic clock show|advance DURATION|reset``: the license server's clock.

Licensing happens over months (90-day temporary licenses, CALs expiring after
52-89 days, 7-day renewal windows). ``advance`` moves the server's clock forward
(``91d``, ``12h``, ``30m``, ``1d12h``) so that testers can watch temporary
licenses expire and CALs renew; the offset is kept in the store, so a running
``rdplic serve`` sees it at once. ``reset`` goes back to real time.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from rdplic.cli.admin_common import (
    add_actions,
    add_admin_command,
    add_common_options,
    admin,
    emit_json,
    wants_json,
)
from rdplic.cli.conventions import add_examples, fail, json_time
from rdplic.licensing import format_duration

__all__ = ["register"]


def _print(args: argparse.Namespace, offset: timedelta, now: datetime) -> None:
    if wants_json(args):
        emit_json(
            {
                "now": json_time(now),
                "offset": format_duration(offset),
                "offset_seconds": int(offset.total_seconds()),
                "real_time": json_time(now - offset),
            }
        )
    else:
        print(f"server time {json_time(now)} (offset {format_duration(offset)})")


def _show(args: argparse.Namespace) -> int:
    with admin(args) as a:
        offset = a.admin.clock_offset()
        now = a.now()
    _print(args, offset, now)
    return 0


def _advance(args: argparse.Namespace) -> int:
    extras = list(getattr(args, "extras", []))
    if args.duration is None and extras and extras[0].startswith("-"):
        # argparse takes "-5d" for an option; say what is actually wrong with it.
        fail(
            f"the clock only moves forward: {extras[0]} is negative "
            "(give a positive duration such as 5d, or rdplic clock reset)"
        )
    if extras:
        fail(f"unrecognized arguments: {' '.join(extras)}")
    if args.duration is None:
        fail("give a DURATION such as 91d, 12h, 30m or 1d12h")
    with admin(args, create=True) as a:
        # The same checks as the web console's (LicenseAdmin.advance_clock).
        offset = a.admin.advance_clock(args.duration, datetime.now(UTC))
        now = a.now()
    _print(args, offset, now)
    return 0


def _reset(args: argparse.Namespace) -> int:
    with admin(args, create=True) as a:
        a.admin.set_clock_offset(timedelta(0), datetime.now(UTC))
        now = a.now()
    _print(args, timedelta(0), now)
    return 0


def register(subparsers: Any) -> None:
    parser = add_admin_command(
        subparsers, "clock", help="show or move the license server's clock (testing)", doc=__doc__
    )
    add_examples(parser, "rdplic clock advance 91d", "rdplic clock show", "rdplic clock reset")
    actions = add_actions(parser)
    show = actions.add_parser("show", help="the server's time and offset")
    add_examples(show, "rdplic clock show --json")
    add_common_options(show)
    show.set_defaults(func=_show)
    advance = actions.add_parser("advance", help="move the clock forward, e.g. 91d, 12h, 30m")
    advance.add_argument("duration", metavar="DURATION", nargs="?")
    advance.set_defaults(takes_extras=True)  # "-5d": told why, not "DURATION required"
    add_examples(advance, "rdplic clock advance 91d", "rdplic clock advance 1d12h")
    add_common_options(advance)
    advance.set_defaults(func=_advance)
    reset = actions.add_parser("reset", help="back to real time")
    add_examples(reset, "rdplic clock reset")
    add_common_options(reset)
    reset.set_defaults(func=_reset)
