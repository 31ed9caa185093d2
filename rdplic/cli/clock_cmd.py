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
from rdplic.licensing import format_duration
from rdplic.licensing.report import iso

__all__ = ["register"]


def _print(args: argparse.Namespace, offset: timedelta, now: datetime) -> None:
    if wants_json(args):
        emit_json(
            {
                "now": iso(now),
                "offset": format_duration(offset),
                "offset_seconds": int(offset.total_seconds()),
                "real_time": iso(now - offset),
            }
        )
    else:
        print(f"server time {iso(now)} (offset {format_duration(offset)})")


def _show(args: argparse.Namespace) -> int:
    with admin(args) as a:
        offset = a.admin.clock_offset()
        now = a.now()
    _print(args, offset, now)
    return 0


def _advance(args: argparse.Namespace) -> int:
    with admin(args) as a:
        offset = a.admin.advance_clock(args.duration, datetime.now(UTC))
        now = a.now()
    _print(args, offset, now)
    return 0


def _reset(args: argparse.Namespace) -> int:
    with admin(args) as a:
        a.admin.set_clock_offset(timedelta(0), datetime.now(UTC))
        now = a.now()
    _print(args, timedelta(0), now)
    return 0


def register(subparsers: Any) -> None:
    parser = add_admin_command(
        subparsers, "clock", help="show or move the license server's clock (testing)", doc=__doc__
    )
    actions = add_actions(parser)
    show = actions.add_parser("show", help="the server's time and offset")
    add_common_options(show)
    show.set_defaults(func=_show)
    advance = actions.add_parser("advance", help="move the clock forward, e.g. 91d, 12h, 30m")
    advance.add_argument("duration", metavar="DURATION")
    add_common_options(advance)
    advance.set_defaults(func=_advance)
    reset = actions.add_parser("reset", help="back to real time")
    add_common_options(reset)
    reset.set_defaults(func=_reset)
