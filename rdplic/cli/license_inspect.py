"""``rdplic license inspect FILE``: decode a stored license (CAL) and print it as JSON.

The file may be a ``.cal`` as FreeRDP and rdesktop store them (the raw
pbLicenseInfo bytes), any raw DER license, hex text, or PEM.  Windows-issued
licenses decode as well as ours.  With ``--issuer-certificate CERT`` or
``--validate`` (against the license server of the state directory) the
output also says whether the license is VALID, FOREIGN, TAMPERED or
MALFORMED for that license server.

The ``license`` command itself belongs to `rdplic.cli.license_cmd`, which
calls `register_inspect` to add this action.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import string
from typing import Any

from rdplic.cli.admin_common import (
    add_state_dir_option,
    emit_json,
    load_identity,
    read_input,
    wants_json,
)
from rdplic.cli.conventions import add_examples, add_json_option, json_time
from rdplic.crypto import ParsedLicense, parse_license, validate_license
from rdplic.errors import UsageError

__all__ = ["license_to_json", "read_license_file", "register_inspect"]

_HEX_TEXT = frozenset((string.hexdigits + string.whitespace + ":").encode())


def read_license_file(data: bytes) -> bytes:
    """The DER bytes of a license given raw, as hex text or as PEM."""
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        body = b"".join(
            line for line in stripped.splitlines() if line and not line.startswith(b"-----")
        )
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            raise UsageError("PEM input is not valid base64") from None
    if stripped and all(b in _HEX_TEXT for b in stripped) and not data.startswith(b"\x30"):
        text = stripped.decode("ascii").replace(":", "")
        try:
            return bytes.fromhex("".join(text.split()))
        except ValueError:
            raise UsageError("hex input has an odd number of digits") from None
    return data


def license_to_json(parsed: ParsedLicense) -> dict[str, Any]:
    """The fields of a license in the JSON vocabulary (`rdplic.vocabulary`): ``serial`` is
    the license's own serial number (hex), ``platform_id`` the client's PlatformId, and
    the times RFC 3339 UTC."""
    return {
        "serial": f"{parsed.license_id:x}",
        "hwid": parsed.hwid.hex(),
        "platform_id": parsed.client_platform_id,
        "client_name": parsed.client_machine_name,
        "user_name": parsed.client_user_name,
        "product_id": parsed.product_id,
        "adjusted_product_id": parsed.adjusted_product_id,
        "version": f"{parsed.product_major}.{parsed.product_minor}",
        "company": parsed.company,
        "temporary": parsed.temporary,
        "license_flags": parsed.license_flags,
        "license_platform_id": parsed.platform_id,
        "language_id": parsed.language_id,
        "issued": json_time(parsed.issued),
        "expires": json_time(parsed.expires),
        "issuer": {
            "name": parsed.issuer_name,
            "scope": parsed.issuer_scope,
            "product_id": parsed.issuer_id,
            "common_name": parsed.issuer_common_name,
        },
        "certificate_count": parsed.certificate_count,
    }


def _issuer_certificate(args: argparse.Namespace) -> bytes | None:
    if args.issuer_certificate is not None:
        return read_license_file(read_input(args.issuer_certificate))
    if args.validate:
        return load_identity(args).license_server.certificate
    return None


def _inspect(args: argparse.Namespace) -> int:
    if args.issuer_certificate is not None and args.validate:
        raise UsageError("give --issuer-certificate or --validate, not both")
    blob = read_license_file(read_input(args.file))
    out = license_to_json(parse_license(blob))
    issuer = _issuer_certificate(args)
    if issuer is not None:
        check = validate_license(blob, issuer)
        out["validation"] = {"status": check.status.name.lower(), "reason": check.reason}
    if wants_json(args):
        emit_json(out)
        return 0
    for key, value in out.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        print(f"{key:>20}: {'' if value is None else value}")
    return 0
    return 0


def register_inspect(license_subparsers: Any) -> None:
    """Add ``inspect`` to the actions of ``rdplic license``."""
    parser = license_subparsers.add_parser(
        "inspect",
        help="decode a stored license (.cal, DER, hex or PEM) and print its fields",
        description=(
            "Decode a client license (pbLicenseInfo) as FreeRDP and rdesktop store it, "
            "raw DER, hex text or PEM, and print its fields (--json: as JSON)."
        ),
    )
    add_examples(parser, "rdplic license inspect ~/.local/share/rdesktop/licence.PC1 --json")
    add_json_option(parser)
    parser.add_argument("file", help="license file, or - for stdin")
    parser.add_argument(
        "--issuer-certificate",
        metavar="CERT",
        help="also validate against this license-server certificate (DER, hex or PEM)",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="also validate against the license server of the state directory",
    )
    add_state_dir_option(
        parser, help="state directory for --validate (default: $RDPLIC_STATE_DIR or XDG data dir)"
    )
    parser.set_defaults(func=_inspect)
