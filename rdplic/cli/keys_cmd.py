"""``rdplic keys``: licensing key derivation and the server's identity.

``rdplic keys derive`` computes, from the two randoms and the premaster
secret, the keys of MS-RDPELE 5.1.2 and prints them as JSON (hex values):
what a tester needs to decrypt a captured licensing exchange by hand.

``rdplic keys show`` prints the identity kept in the state directory (names,
key sizes, certificate fingerprints) without creating one.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from rdplic.cli.admin_common import (
    add_actions,
    add_state_dir_option,
    emit_json,
    load_identity,
    parse_hex,
)
from rdplic.cli.conventions import add_examples, add_json_option, json_time
from rdplic.crypto import CryptoError, derive_licensing_keys
from rdplic.errors import UsageError

__all__ = ["register"]


def _derive(args: argparse.Namespace) -> int:
    try:
        keys = derive_licensing_keys(
            parse_hex(args.premaster, "--premaster"),
            parse_hex(args.client_random, "--client-random"),
            parse_hex(args.server_random, "--server-random"),
        )
    except CryptoError as error:
        raise UsageError(str(error)) from None
    out = {
        "master_secret": keys.master_secret.hex(),
        "session_key_blob": keys.session_key_blob.hex(),
        "mac_salt_key": keys.mac_salt_key.hex(),
        "licensing_encryption_key": keys.licensing_encryption_key.hex(),
    }
    emit_json(out)
    return 0


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _show(args: argparse.Namespace) -> int:
    identity = load_identity(args)
    ls = identity.license_server
    out: dict[str, Any] = {
        "state_dir": str(identity.state_dir),
        "created": json_time(identity.created),
        "license_server": {
            "name": ls.name,
            "scope": ls.scope,
            "product_id": ls.product_id,
            "key_bits": ls.private_key.bits,
            "certificate_sha256": _fingerprint(ls.certificate),
        },
        "terminal_server": {
            "name": identity.terminal_server_name,
            "key_bits": identity.terminal_server_key.bits,
            "certificate_sha256": _fingerprint(identity.terminal_server_certificate),
        },
        "proprietary_certificate": {
            "key_bits": identity.proprietary_key.bits,
            "hex": identity.proprietary_certificate.hex(),
        },
    }
    if args.json:
        emit_json(out)
        return 0
    print(f"state directory   {out['state_dir']} (identity created {out['created']})")
    print(f"license server    {ls.name} (scope {ls.scope}, product id {ls.product_id})")
    print(f"  key, cert       RSA {ls.private_key.bits}, sha256 {_fingerprint(ls.certificate)}")
    print(f"terminal server   {identity.terminal_server_name}")
    ts_cert = _fingerprint(identity.terminal_server_certificate)
    print(f"  key, cert       RSA {identity.terminal_server_key.bits}, sha256 {ts_cert}")
    print(f"proprietary cert  RSA {identity.proprietary_key.bits}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``rdplic keys`` and its actions."""
    parser = subparsers.add_parser(
        "keys",
        help="derive licensing keys; show the server identity",
        description="Licensing key derivation (MS-RDPELE 5.1.2) and the server's keys.",
    )
    add_examples(parser, "rdplic keys show")
    actions = add_actions(parser)
    derive = actions.add_parser(
        "derive",
        help="print the licensing keys of a premaster secret and two randoms",
        description=(
            "Print, as JSON hex strings, the master secret, session key blob, MAC salt key "
            "and licensing encryption key of MS-RDPELE 5.1.2."
        ),
    )
    derive.add_argument("--client-random", required=True, metavar="HEX", help="32 bytes")
    derive.add_argument("--server-random", required=True, metavar="HEX", help="32 bytes")
    derive.add_argument("--premaster", required=True, metavar="HEX", help="48 bytes")
    add_examples(
        derive,
        "rdplic keys derive --client-random HEX64 --server-random HEX64 --premaster HEX96",
    )
    add_json_option(derive, default=True)  # it prints JSON only; accepted for uniformity
    derive.set_defaults(func=_derive)
    show = actions.add_parser(
        "show",
        help="print the server identity of the state directory",
        description="Print the license server name, scope, key sizes and fingerprints.",
    )
    add_examples(show, "rdplic keys show --json")
    add_state_dir_option(show)
    add_json_option(show)
    show.set_defaults(func=_show)
