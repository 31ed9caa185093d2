"""``rdplic config show|set KEY VALUE``: the emulated host and license server.

The configuration lives in the store, so ``rdplic serve`` and the administration
commands agree; ``set`` takes effect at the next connection. Keys (``show`` lists
them with their values): windows_version (2000 ... 2025), licensing_mode
(per-device, per-user, personal, remote-admin, valid-client-only), first_license
(temporary, permanent), grace_period_days, license_server_reachable,
prevent_license_upgrade, ... - see README.md, "The host being emulated".
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from typing import Any

from rdplic.cli.admin_common import (
    add_actions,
    add_admin_command,
    add_common_options,
    admin,
    emit_json,
    print_table,
    wants_json,
)
from rdplic.cli.conventions import add_examples, json_time
from rdplic.licensing import HostConfig

__all__ = ["register"]


def _typed(value: object) -> Any:
    """A setting's value as JSON: booleans, numbers and null as such, lists as lists."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, tuple):
        return [str(item) for item in value]
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _describe(config: HostConfig, *, typed: bool) -> dict[str, Any]:
    settings: dict[str, Any] = dict(config.to_settings())
    if typed:
        settings = {f.name: _typed(getattr(config, f.name)) for f in dataclasses.fields(config)}
    info = config.product_info
    settings["derived"] = {
        "host": config.release.title,
        "license_server": config.server_release.title,
        "cal_version": str(config.cal_version),
        "dw_version": info.dw_version if typed else f"0x{info.dw_version:08X}",
        "grace_days": config.grace_days,
        "product_id": info.product_id,
        "scope": info.scopes[0],
    }
    return settings


def _show(args: argparse.Namespace) -> int:
    with admin(args) as a:
        config = a.admin.config()
        grace_end = a.admin.grace_ends()
        now = a.now()
    out = _describe(config, typed=wants_json(args))
    out["derived"]["grace_ends"] = json_time(grace_end)
    out["derived"]["in_grace"] = grace_end > now
    if wants_json(args):
        emit_json(out)
    else:
        derived = out.pop("derived")
        rows = [(k, v) for k, v in out.items()] + [(f"({k})", v) for k, v in derived.items()]
        print_table(("KEY", "VALUE"), rows)
    return 0


def _set(args: argparse.Namespace) -> int:
    with admin(args, create=True) as a:
        config = a.admin.update_config(args.key, args.value, a.now())
    if wants_json(args):
        emit_json(_describe(config, typed=True))
    else:
        name = args.key.strip().lower().replace("-", "_")
        print(f"{name} = {config.to_settings()[name]}")
    return 0


def register(subparsers: Any) -> None:
    parser = add_admin_command(
        subparsers,
        "config",
        help="show or change the emulated host and license server",
        doc=__doc__,
    )
    add_examples(parser, "rdplic config show", "rdplic config set windows_version 2008R2")
    actions = add_actions(parser)
    show = actions.add_parser("show", help="every key with its value")
    add_examples(show, "rdplic config show --json")
    add_common_options(show)
    show.set_defaults(func=_show)
    setter = actions.add_parser("set", help="change one key")
    setter.add_argument("key", metavar="KEY")
    setter.add_argument("value", metavar="VALUE")
    add_examples(
        setter,
        "rdplic config set windows_version 2008R2",
        "rdplic config set license_server_reachable no",
    )
    add_common_options(setter)
    setter.set_defaults(func=_set)
