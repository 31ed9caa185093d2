"""Proprietary server certificates signed with the Terminal Services key.

MS-RDPBCGR 5.3.3.1.1 publishes the Terminal Services signing key; 5.3.3.1.2
says how Windows signs a proprietary certificate with it and 5.3.3.1.3 how a
client checks it.  Signing, as verified bit for bit against Windows
certificates (a Windows Server capture, IronRDP's and redemption's fixtures):

1. ``signed`` = dwVersion ‖ dwSigAlgId ‖ dwKeyAlgId ‖ wPublicKeyBlobType ‖
   wPublicKeyBlobLen ‖ PublicKeyBlob, as on the wire;
2. a 63-byte block ``MD5(signed) ‖ 0x00 ‖ 0xFF×45 ‖ 0x01`` (the spec's
   illustration ends it with 0x10: a typo, real signatures decrypt to …FF 01);
3. the block, read little-endian, raised to the private exponent, written as
   64 little-endian bytes and followed by 8 zero bytes.

The private half of the key is public, so the signature authenticates
nothing; clients check it anyway, and so must a Windows-like server produce it.
"""

from __future__ import annotations

import hashlib
import hmac

from rdplic.crypto.errors import CertificateError
from rdplic.crypto.rsa import (
    PREMASTER_PADDING,
    RsaPrivateKey,
    RsaPublicKey,
    rsa_private_op,
    rsa_public_op,
)
from rdplic.pdu.certificates import (
    BB_RSA_KEY_BLOB,
    BB_RSA_SIGNATURE_BLOB,
    KEY_EXCHANGE_ALG_RSA,
    SIGNATURE_ALG_RSA,
    ProprietaryServerCertificate,
    RsaPublicKeyBlob,
    ServerCertificate,
    decode_server_certificate,
    encode_server_certificate,
)
from rdplic.pdu.errors import PduError

__all__ = [
    "TS_SIGNING_KEY",
    "build_proprietary_certificate",
    "proprietary_public_key",
    "rsa_public_key_blob",
    "verify_proprietary_certificate",
]

# MS-RDPBCGR 5.3.3.1.1, little-endian as published.
_TS_MODULUS_LE = bytes.fromhex(
    "3d3a5ebd72433ec94dbbc11e4aba5fcb3e882087eff5c1e2d7b76b9af2524595"
    "ce63656b583afeef7ce7bffe3df65c7d6c5e06091af561bb2093095f056dea87"
)
_TS_PRIVATE_EXPONENT_LE = bytes.fromhex(
    "87a71932da11875558001616256568f8243ee6fae9674994cf92cc3399e80860"
    "179a129f24ddb12499c73ab80a7b0ddd350779170b519bb3c7100113e73ff35f"
)
_TS_PUBLIC_EXPONENT_LE = bytes.fromhex("5b7b88c0")

TS_SIGNING_KEY: RsaPrivateKey = RsaPrivateKey.from_private_exponent(
    n=int.from_bytes(_TS_MODULUS_LE, "little"),
    e=int.from_bytes(_TS_PUBLIC_EXPONENT_LE, "little"),
    d=int.from_bytes(_TS_PRIVATE_EXPONENT_LE, "little"),
)
"""The Terminal Services signing key (MS-RDPBCGR 5.3.3.1.1), 512 bits; the primes
are recovered from the published (n, e, d) so that signing can use CRT."""

_SIGNATURE_SIZE = 64
_PADDING_BLOCK = b"\x00" + b"\xff" * 45 + b"\x01"


def rsa_public_key_blob(public: RsaPublicKey) -> RsaPublicKeyBlob:
    """RSA_PUBLIC_KEY for ``public`` exactly as Windows fills it (MS-RDPBCGR 2.2.1.4.3.1.1.1)."""
    size = public.modulus_bytes
    return RsaPublicKeyBlob(
        bitlen=size * 8,
        datalen=size - 1,
        pub_exp=public.e,
        modulus=public.n.to_bytes(size, "little") + bytes(PREMASTER_PADDING),
    )


def _signed_part(encoded: bytes, public_key_blob_len: int) -> bytes:
    # dwVersion(4) dwSigAlgId(4) dwKeyAlgId(4) wPublicKeyBlobType(2) wPublicKeyBlobLen(2) blob
    return encoded[: 16 + public_key_blob_len]


def _signature_block(signed: bytes) -> int:
    return int.from_bytes(hashlib.md5(signed).digest() + _PADDING_BLOCK, "little")


def build_proprietary_certificate(public: RsaPublicKey, *, permanent: bool = False) -> bytes:
    """SERVER_CERTIFICATE bytes of a proprietary certificate for ``public``, signed like Windows.

    ``permanent`` sets the ``t`` bit of dwVersion; Windows Server sends its
    proprietary certificate with it clear (dwVersion 0x00000001).
    """
    blob = rsa_public_key_blob(public)
    unsigned = ServerCertificate(
        certificate=ProprietaryServerCertificate(
            public_key=blob, signature=bytes(_SIGNATURE_SIZE + PREMASTER_PADDING)
        ),
        permanent=permanent,
    )
    encoded = encode_server_certificate(unsigned)
    blob_len = 20 + len(blob.modulus)
    s = rsa_private_op(TS_SIGNING_KEY, _signature_block(_signed_part(encoded, blob_len)))
    signature = s.to_bytes(_SIGNATURE_SIZE, "little") + bytes(PREMASTER_PADDING)
    return encoded[: -len(signature)] + signature


def proprietary_public_key(certificate: ProprietaryServerCertificate) -> RsaPublicKey:
    """The RSA key carried by a proprietary certificate (no signature check)."""
    blob = certificate.public_key
    n = int.from_bytes(blob.modulus, "little")
    try:
        return RsaPublicKey(n, blob.pub_exp)
    except Exception as error:
        raise CertificateError(f"unusable RSA_PUBLIC_KEY: {error}") from None


def verify_proprietary_certificate(data: bytes) -> RsaPublicKey:
    """The server's key from a proprietary SERVER_CERTIFICATE whose signature checks out.

    Follows MS-RDPBCGR 5.3.3.1.3: the SignatureBlob, raised to the TS public
    exponent, must give ``MD5(signed) ‖ 0x00 ‖ 0xFF×45 ‖ 0x01 ‖ 0x00``.
    Raises `CertificateError` for anything else (malformed bytes included).
    """
    try:
        decoded = decode_server_certificate(data)
    except PduError as error:
        raise CertificateError(f"malformed server certificate: {error}") from None
    body = decoded.certificate
    if not isinstance(body, ProprietaryServerCertificate):
        raise CertificateError("not a proprietary certificate (dwVersion is X.509)")
    if body.sig_alg_id != SIGNATURE_ALG_RSA or body.key_alg_id != KEY_EXCHANGE_ALG_RSA:
        raise CertificateError("proprietary certificate algorithm is not RSA")
    if body.public_key_blob_type != BB_RSA_KEY_BLOB:
        raise CertificateError("proprietary certificate public key blob has the wrong type")
    if body.signature_blob_type != BB_RSA_SIGNATURE_BLOB:
        raise CertificateError("proprietary certificate signature blob has the wrong type")
    signature = body.signature
    if len(signature) < _SIGNATURE_SIZE or any(signature[_SIGNATURE_SIZE:]):
        raise CertificateError("proprietary certificate signature has the wrong size")
    s = int.from_bytes(signature[:_SIGNATURE_SIZE], "little")
    if s >= TS_SIGNING_KEY.n:
        raise CertificateError("proprietary certificate signature is out of range")
    blob_len = 20 + len(body.public_key.modulus)
    signed = _signed_part(data, blob_len)
    recovered = rsa_public_op(TS_SIGNING_KEY.public, s).to_bytes(_SIGNATURE_SIZE, "little")
    expected = (_signature_block(signed)).to_bytes(_SIGNATURE_SIZE, "little")
    if not hmac.compare_digest(recovered, expected):
        raise CertificateError("proprietary certificate signature does not verify")
    return proprietary_public_key(body)
