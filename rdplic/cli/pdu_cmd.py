"""``rdplic pdu``: show licensing PDUs as JSON, layer by layer, and build them back.

``rdplic pdu decode`` reads bytes (a file, ``--hex``, stdin — binary or hex
text — or the bundled ``--sample``) and prints a JSON list with one object
per layer: ``tpkt``, ``x224``, ``mcs``, ``security``, ``licensing``.  Each
object has the layer's ``fields`` (spec names, see `rdplic.pdujson`); the
bytes a layer carries are the next layer, or, when that cannot be decoded
(an encrypted payload, a PDU that is not licensing), its ``payload`` hex.

``rdplic pdu encode`` reads that JSON and prints the hex of the whole stack,
re-encoding the inner layers and deriving every length, so that decode then
encode gives the input bytes back.  Read-only extras that decode adds (the
``decoded`` server certificate, ``decrypted`` fields when keys are given)
are ignored by encode.

With keys (``--licensing-key`` and ``--mac-salt-key``; or ``--premaster``
with the two randoms; or ``--server-key`` and ``--server-random`` for a
captured New License Request or License Info) the encrypted fields are
shown decrypted and every MACData is checked (MS-RDPELE 5.1.3-5.1.5).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rdplic.cli.admin_common import add_actions, emit_json, parse_hex, read_input
from rdplic.cli.conventions import add_examples, add_json_option
from rdplic.errors import UsageError
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import (
    Tpkt,
    X224Data,
    X224Tpdu,
    decode_tpkt,
    decode_x224,
    encode_tpkt,
    encode_x224,
)
from rdplic.pdu.licensing import (
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    LicensingPdu,
    MsgType,
    ServerLicenseRequest,
    ServerNewLicense,
    ServerPlatformChallenge,
    ServerUpgradeLicense,
    decode_client_hardware_id,
    decode_licensing_pdu,
    decode_new_license_info,
    decode_platform_challenge_response_data,
    encode_licensing_pdu,
)
from rdplic.pdu.mcs import (
    DomainMcsPdu,
    McsConnectInitial,
    McsConnectResponse,
    SendDataIndication,
    SendDataRequest,
    decode_mcs_pdu,
    encode_domain_pdu,
    encode_mcs_connect_initial,
    encode_mcs_connect_response,
)
from rdplic.pdu.rdp import (
    SecurityFlag,
    SecurityHeader,
    decode_security_header,
    encode_security_header,
)
from rdplic.pdujson import PduJsonError, from_json, to_json

__all__ = ["decode_layers", "encode_layers", "register"]

SAMPLE = "license-request.hex"
"""Bundled in rdplic/data: the MS-RDPELE 4.1 License Request in a whole TPKT frame."""

LAYERS = ("tpkt", "x224", "mcs", "security", "licensing")


# -- the layers ------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """How to decode one layer, split off the bytes it carries, and put them back."""

    name: str
    decode: Callable[[bytes, bool], tuple[Any, bytes | None]]
    """Decode (the flag says FIPS security headers are in force)."""
    encode: Callable[[Any, bytes | None], bytes]
    hint: Any
    """The type `from_json` rebuilds (a dataclass or a union of them)."""
    payload_key: str | None
    """The JSON key of the carried bytes inside ``fields``, if they are a field."""
    inner: Callable[[Any, bytes], str | None]
    """The layer the carried bytes hold, or None when they are not decoded further."""


def _decode_tpkt(data: bytes, fips: bool) -> tuple[Any, bytes | None]:
    tpkt = decode_tpkt(data)
    return tpkt, tpkt.payload


def _encode_tpkt(obj: Any, payload: bytes | None) -> bytes:
    return bytes(encode_tpkt(dataclasses.replace(obj, payload=payload)))


def _decode_x224(data: bytes, fips: bool) -> tuple[Any, bytes | None]:
    tpdu = decode_x224(data)
    return tpdu, tpdu.payload if isinstance(tpdu, X224Data) else None


def _encode_x224(obj: Any, payload: bytes | None) -> bytes:
    if payload is not None:
        obj = dataclasses.replace(obj, payload=payload)
    return bytes(encode_x224(obj))


def _decode_mcs(data: bytes, fips: bool) -> tuple[Any, bytes | None]:
    pdu = decode_mcs_pdu(data)
    return pdu, pdu.user_data if isinstance(pdu, SendDataRequest | SendDataIndication) else None


def _encode_mcs(obj: Any, payload: bytes | None) -> bytes:
    if payload is not None:
        obj = dataclasses.replace(obj, user_data=payload)
    if isinstance(obj, McsConnectInitial):
        return bytes(encode_mcs_connect_initial(obj))
    if isinstance(obj, McsConnectResponse):
        return bytes(encode_mcs_connect_response(obj))
    return bytes(encode_domain_pdu(obj))


def _decode_security(data: bytes, fips: bool) -> tuple[Any, bytes | None]:
    header, rest = decode_security_header(data, fips=fips)
    return header, bytes(rest)


def _encode_security(obj: Any, payload: bytes | None) -> bytes:
    return bytes(encode_security_header(obj)) + (payload or b"")


def _decode_licensing(data: bytes, fips: bool) -> tuple[Any, bytes | None]:
    return decode_licensing_pdu(data), None


def _encode_licensing(obj: Any, payload: bytes | None) -> bytes:
    return encode_licensing_pdu(obj)


def _security_inner(header: Any, payload: bytes) -> str | None:
    flags = int(header.flags)
    if flags & SecurityFlag.SEC_LICENSE_PKT and not flags & SecurityFlag.SEC_ENCRYPT:
        return "licensing"
    return None


_STACK: dict[str, _Layer] = {
    "tpkt": _Layer(
        "tpkt",
        _decode_tpkt,
        _encode_tpkt,
        Tpkt,
        "payload",
        lambda obj, payload: "x224",
    ),
    "x224": _Layer(
        "x224",
        _decode_x224,
        _encode_x224,
        X224Tpdu,
        "userData",
        lambda obj, payload: "mcs",
    ),
    "mcs": _Layer(
        "mcs",
        _decode_mcs,
        _encode_mcs,
        McsConnectInitial | McsConnectResponse | DomainMcsPdu,
        "userData",
        lambda obj, payload: "security",
    ),
    "security": _Layer(
        "security",
        _decode_security,
        _encode_security,
        SecurityHeader,
        None,
        _security_inner,
    ),
    "licensing": _Layer(
        "licensing",
        _decode_licensing,
        _encode_licensing,
        LicensingPdu,
        None,
        lambda obj, payload: None,
    ),
}


def detect_layer(data: bytes) -> str:
    """The outermost layer of ``data``: a whole TPKT frame, a security header, or a bare
    licensing PDU (whose first byte is a bMsgType; a security header's first byte is the low
    byte of flags, which has SEC_LICENSE_PKT)."""
    if data[:2] == b"\x03\x00" and int.from_bytes(data[2:4], "big") == len(data) >= 4:
        return "tpkt"
    flags = int.from_bytes(data[:2], "little")
    if len(data) >= 2 and data[0] != MsgType.ERROR_ALERT and flags & SecurityFlag.SEC_LICENSE_PKT:
        return "security"
    return "licensing"


def decode_layers(data: bytes, layer: str = "auto", *, fips: bool = False) -> list[dict[str, Any]]:
    """Decode ``data`` layer by layer into the JSON list that ``pdu decode`` prints."""
    return _decode(data, layer, fips)[0]


def _decode(data: bytes, layer: str, fips: bool) -> tuple[list[dict[str, Any]], list[Any]]:
    """The JSON list of layers and the decoded object of each."""
    name: str | None = detect_layer(data) if layer == "auto" else layer
    out: list[dict[str, Any]] = []
    objects: list[Any] = []
    current: bytes | None = data
    while name is not None and current is not None:
        spec = _STACK[name]
        obj, payload = spec.decode(current, fips)
        entry: dict[str, Any] = {"layer": name, "fields": to_json(obj, spec.hint)}
        if spec.payload_key is not None and payload is not None:
            entry["fields"].pop(spec.payload_key, None)
        out.append(entry)
        objects.append(obj)
        if payload is None:
            break
        inner = spec.inner(obj, payload)
        if inner is None:
            entry["payload"] = payload.hex()
        name, current = inner, payload
    return out, objects


def encode_layers(layers: Any) -> bytes:
    """Encode the JSON list of ``pdu decode`` (innermost first), deriving every length."""
    if isinstance(layers, dict):
        layers = [layers]
    if not isinstance(layers, list) or not layers:
        raise UsageError("expected a JSON list of layers, as printed by `rdplic pdu decode`")
    payload: bytes | None = None
    for index in reversed(range(len(layers))):
        entry = layers[index]
        if not isinstance(entry, dict) or entry.get("layer") not in _STACK:
            raise UsageError(f"layer {index}: expected an object with a layer among {LAYERS}")
        spec = _STACK[entry["layer"]]
        fields = dict(entry.get("fields") or {})
        if index == len(layers) - 1 and "payload" in entry:
            payload = parse_hex(entry["payload"], f"layer {index} payload")
        elif index == len(layers) - 1:
            payload = None
        if spec.payload_key is not None and payload is not None:
            fields[spec.payload_key] = payload.hex()
        try:
            obj = from_json(spec.hint, fields)
        except PduJsonError as error:
            raise UsageError(f"layer {index} ({spec.name}): {error}") from None
        payload = spec.encode(obj, payload)
    assert payload is not None
    return payload


# -- decryption ------------------------------------------------------------


@dataclass(frozen=True)
class _Keys:
    licensing_key: bytes
    mac_salt_key: bytes
    premaster: bytes | None = None


def _crypto() -> Any:
    return importlib.import_module("rdplic.crypto")


def _client_random(message: Any) -> bytes | None:
    if isinstance(message, ClientNewLicenseRequest | ClientLicenseInfo):
        return bytes(message.client_random)
    return None


def _keys_for(args: argparse.Namespace, pdu: LicensingPdu) -> _Keys | None:
    """The licensing keys the command line gives, or None when it gives none."""
    if args.licensing_key or args.mac_salt_key:
        if not (args.licensing_key and args.mac_salt_key):
            raise UsageError("--licensing-key and --mac-salt-key go together")
        return _Keys(
            parse_hex(args.licensing_key, "--licensing-key"),
            parse_hex(args.mac_salt_key, "--mac-salt-key"),
        )
    crypto = _crypto()
    premaster: bytes | None = None
    if args.server_key:
        if args.premaster:
            raise UsageError("give --premaster or --server-key, not both")
        message = pdu.message
        if not isinstance(message, ClientNewLicenseRequest | ClientLicenseInfo):
            raise UsageError(
                "--server-key decrypts the premaster secret of a New License Request or a "
                "License Info; give --premaster for other PDUs"
            )
        try:
            key = crypto.load_private_key(Path(args.server_key).read_bytes())
            premaster = crypto.decrypt_premaster(
                key, bytes(message.encrypted_pre_master_secret.blob_data)
            )
        except OSError as error:
            raise UsageError(f"cannot read {args.server_key}: {error.strerror}") from None
        except crypto.CryptoError as error:
            raise UsageError(f"--server-key: {error}") from None
    elif args.premaster:
        premaster = parse_hex(args.premaster, "--premaster")
    if premaster is None:
        if args.client_random or args.server_random:
            raise UsageError("--client-random/--server-random need --premaster or --server-key")
        return None
    client_random = (
        parse_hex(args.client_random, "--client-random")
        if args.client_random
        else _client_random(pdu.message)
    )
    if client_random is None:
        raise UsageError("--client-random is needed (this PDU does not carry ClientRandom)")
    if not args.server_random:
        raise UsageError("--server-random is needed (from the License Request)")
    server_random = parse_hex(args.server_random, "--server-random")
    try:
        keys = crypto.derive_licensing_keys(premaster, client_random, server_random)
    except crypto.CryptoError as error:
        raise UsageError(str(error)) from None
    return _Keys(keys.licensing_encryption_key, keys.mac_salt_key, premaster)


def _inner(decode: Callable[[bytes], Any], plaintext: bytes) -> Any:
    try:
        return to_json(decode(plaintext))
    except PduError as error:
        return {"error": str(error), "hex": plaintext.hex()}


def _decrypted_view(pdu: LicensingPdu, keys: _Keys) -> dict[str, Any]:
    """The encrypted fields of ``pdu`` decrypted, and whether its MACData checks out."""
    crypto = _crypto()

    def rc4(data: bytes) -> bytes:
        return bytes(crypto.rc4(keys.licensing_key, bytes(data)))

    def mac(plaintext: bytes, received: bytes) -> dict[str, Any]:
        return {"valid": bool(crypto.verify_mac(keys.mac_salt_key, plaintext, bytes(received)))}

    view: dict[str, Any] = {}
    if keys.premaster is not None:
        view["PreMasterSecret"] = keys.premaster.hex()
    message = pdu.message
    if isinstance(message, ServerPlatformChallenge):
        challenge = rc4(message.encrypted_platform_challenge.blob_data)
        view["EncryptedPlatformChallenge"] = {
            "hex": challenge.hex(),
            "text": challenge.decode("utf-16-le", errors="replace"),
        }
        view["MACData"] = mac(challenge, message.mac_data)
    elif isinstance(message, ClientPlatformChallengeResponse):
        response = rc4(message.encrypted_platform_challenge_response.blob_data)
        hwid = rc4(message.encrypted_hwid.blob_data)
        view["EncryptedPlatformChallengeResponse"] = _inner(
            decode_platform_challenge_response_data, response
        )
        view["EncryptedHWID"] = _inner(decode_client_hardware_id, hwid)
        view["MACData"] = mac(response + hwid, message.mac_data)
    elif isinstance(message, ClientLicenseInfo):
        hwid = rc4(message.encrypted_hwid.blob_data)
        view["EncryptedHWID"] = _inner(decode_client_hardware_id, hwid)
        view["MACData"] = mac(hwid, message.mac_data)
    elif isinstance(message, ServerNewLicense | ServerUpgradeLicense):
        info = rc4(message.encrypted_license_info.blob_data)
        view["EncryptedLicenseInfo"] = _inner(decode_new_license_info, info)
        view["MACData"] = mac(info, message.mac_data)
    return view


def _certificate_view(pdu: LicensingPdu) -> dict[str, Any] | None:
    """The ServerCertificate blob of a License Request, decoded by `pdu.certificates`."""
    message = pdu.message
    if not isinstance(message, ServerLicenseRequest) or not message.server_certificate.blob_data:
        return None
    try:
        certificates = importlib.import_module("rdplic.pdu.certificates")
        certificate = certificates.decode_server_certificate(
            bytes(message.server_certificate.blob_data)
        )
    except (ImportError, AttributeError):
        return None
    except PduError as error:
        return {"ServerCertificate": {"error": str(error)}}
    return {"ServerCertificate": to_json(certificate)}


# -- the command -----------------------------------------------------------


_HEX_TEXT = frozenset((string.hexdigits + string.whitespace).encode())


def _bytes_from(data: bytes) -> bytes:
    """Raw bytes, or the bytes that hex text spells (whitespace ignored)."""
    stripped = data.strip()
    if stripped and all(b in _HEX_TEXT for b in stripped):
        compact = b"".join(stripped.split())
        if len(compact) % 2 == 0:
            return bytes.fromhex(compact.decode())
    return data


def _sample() -> bytes:
    text = resources.files("rdplic").joinpath("data", SAMPLE).read_text(encoding="ascii")
    return bytes.fromhex("".join(text.split()))


def _decode_command(args: argparse.Namespace) -> int:
    sources = sum(x is not None and x is not False for x in (args.hex, args.file, args.sample))
    if sources > 1:
        raise UsageError("give one of FILE, --hex and --sample")
    if args.sample:
        data = _sample()
    elif args.hex is not None:
        data = parse_hex(args.hex, "--hex")
    else:
        data = _bytes_from(read_input(args.file))
    if not data:
        raise UsageError("no bytes to decode")
    layers, objects = _decode(data, args.layer, args.fips)
    last = layers[-1]
    if last["layer"] == "licensing":
        pdu = objects[-1]
        certificate = _certificate_view(pdu)
        if certificate is not None:
            last["decoded"] = certificate
        keys = _keys_for(args, pdu)
        if keys is not None:
            last["decrypted"] = _decrypted_view(pdu, keys)
    elif any((args.licensing_key, args.premaster, args.server_key)):
        raise UsageError("keys were given but the input holds no decodable licensing PDU")
    emit_json(layers)
    return 0


def _encode_command(args: argparse.Namespace) -> int:
    text = read_input(args.file)
    try:
        layers = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"not JSON: {error}") from None
    encoded = encode_layers(layers).hex()
    if getattr(args, "json", False):
        emit_json({"hex": encoded, "size": len(encoded) // 2})
    else:
        sys.stdout.write(encoded + "\n")
    return 0


def register(subparsers: Any) -> None:
    """Add ``rdplic pdu decode`` and ``rdplic pdu encode``."""
    parser = subparsers.add_parser(
        "pdu",
        help="decode licensing PDUs to JSON and encode them back",
        description="Decode RDP licensing PDUs layer by layer to JSON, and encode that JSON back.",
    )
    add_examples(parser, "rdplic pdu decode --sample")
    actions = add_actions(parser, dest="pdu_action")

    decode = actions.add_parser(
        "decode",
        help="print a PDU as JSON, one object per layer",
        description=(
            "Decode a whole TPKT frame, a security header followed by a licensing PDU, or a "
            "bare licensing PDU (binary or hex text) and print it as JSON."
        ),
    )
    decode.add_argument("file", nargs="?", help="input file (binary or hex text); default stdin")
    decode.add_argument("--hex", metavar="HEX", help="the bytes as hex on the command line")
    decode.add_argument(
        "--sample",
        action="store_true",
        help="decode the bundled MS-RDPELE 4.1 License Request frame",
    )
    decode.add_argument(
        "--layer",
        choices=("auto", "tpkt", "security", "licensing"),
        default="auto",
        help="outermost layer of the input (default: detect)",
    )
    decode.add_argument(
        "--fips",
        action="store_true",
        help="encrypted security headers are the FIPS kind (TS_SECURITY_HEADER2)",
    )
    keys = decode.add_argument_group(
        "decryption", "show encrypted fields decrypted and check each MACData"
    )
    keys.add_argument("--licensing-key", metavar="HEX", help="the 16-byte licensing encryption key")
    keys.add_argument("--mac-salt-key", metavar="HEX", help="the 16-byte MAC salt key")
    keys.add_argument("--premaster", metavar="HEX", help="the 48-byte premaster secret")
    keys.add_argument("--client-random", metavar="HEX", help="ClientRandom (default: the PDU's)")
    keys.add_argument("--server-random", metavar="HEX", help="ServerRandom of the License Request")
    keys.add_argument(
        "--server-key",
        metavar="FILE",
        help="the server's RSA private key (PEM/DER): decrypts the premaster secret of a "
        "captured New License Request or License Info",
    )
    add_json_option(decode, default=True)  # it prints JSON only; accepted for uniformity
    add_examples(decode, "rdplic pdu decode --sample", "rdplic pdu decode capture-frame.hex")
    decode.set_defaults(func=_decode_command)

    encode = actions.add_parser(
        "encode",
        help="print the hex of the PDU a JSON decode describes",
        description="Read the JSON of rdplic pdu decode and print the whole PDU as hex.",
    )
    encode.add_argument("file", nargs="?", help="JSON file; default stdin")
    add_examples(encode, "rdplic pdu decode --sample > pdu.json && rdplic pdu encode pdu.json")
    add_json_option(encode)
    encode.set_defaults(func=_encode_command)
