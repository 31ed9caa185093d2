"""Server certificates: SERVER_CERTIFICATE and its two bodies (wire format only).

[MS-RDPBCGR] 2.2.1.4.3.1 Server Certificate (SERVER_CERTIFICATE),
2.2.1.4.3.1.1 Server Proprietary Certificate (PROPRIETARYSERVERCERTIFICATE),
2.2.1.4.3.1.1.1 RSA Public Key (RSA_PUBLIC_KEY); [MS-RDPELE] 2.2.1.4.2 Server
X.509 Certificate Chain (SERVER_CERTIFICATE with CERT_CHAIN_VERSION_2).

The same bytes travel in the Server Security Data of the MCS Connect Response
and in the ServerCertificate blob of the Server License Request.  dwVersion
holds the certificate chain version in bits 0-30 and, in bit 31, the ``t``
flag: 1 = the certificate was issued permanently, 0 = temporarily (Windows
sends 0x00000001 for its proprietary certificate, 0x80000002 for an X.509
chain).  An X.509 chain ends with 8 + 4·NumCertBlobs zero bytes of padding
that Windows always writes; it is kept as decoded so that encoding is exact.

Nothing here checks a signature or reads a key: that is `rdplic.crypto`.
"""

from __future__ import annotations

import io

import construct as c

from rdplic.pdu._types import pdu_dataclass, spec
from rdplic.pdu.errors import PduError, guarded

__all__ = [
    "BB_RSA_KEY_BLOB",
    "BB_RSA_SIGNATURE_BLOB",
    "CERT_CHAIN_VERSION_1",
    "CERT_CHAIN_VERSION_2",
    "KEY_EXCHANGE_ALG_RSA",
    "MAX_CERT_BLOBS",
    "RSA1_MAGIC",
    "SIGNATURE_ALG_RSA",
    "ProprietaryServerCertificate",
    "RsaPublicKeyBlob",
    "ServerCertificate",
    "X509CertificateChain",
    "decode_server_certificate",
    "encode_server_certificate",
    "x509_padding",
]

CERT_CHAIN_VERSION_1 = 0x00000001
"""dwVersion: the body is a proprietary certificate."""
CERT_CHAIN_VERSION_2 = 0x00000002
"""dwVersion: the body is an X.509 certificate chain."""
_T_BIT = 0x80000000
_VERSION_MASK = 0x7FFFFFFF
SIGNATURE_ALG_RSA = 0x00000001
KEY_EXCHANGE_ALG_RSA = 0x00000001
BB_RSA_KEY_BLOB = 0x0006
BB_RSA_SIGNATURE_BLOB = 0x0008
RSA1_MAGIC = b"RSA1"
"""RSA_PUBLIC_KEY.magic, 0x31415352 little-endian."""
MAX_CERT_BLOBS = 200
"""MS-RDPELE 2.2.1.4.2: NumCertBlobs is at most 200 (caps the work of a hostile chain)."""


@pdu_dataclass
class RsaPublicKeyBlob:
    """RSA_PUBLIC_KEY (MS-RDPBCGR 2.2.1.4.3.1.1.1); keylen is ``len(modulus)``.

    ``modulus`` is little-endian and includes the 8 zero bytes Windows appends
    (keylen = bitlen/8 + 8).  bitlen and datalen (bitlen/8 - 1) are kept as
    sent, even when they disagree with the modulus.
    """

    bitlen: int = spec("bitlen")
    datalen: int = spec("datalen")
    pub_exp: int = spec("pubExp")
    modulus: bytes = spec("modulus")


@pdu_dataclass
class ProprietaryServerCertificate:
    """PROPRIETARYSERVERCERTIFICATE (MS-RDPBCGR 2.2.1.4.3.1.1), after dwVersion.

    ``signature`` is the SignatureBlob: a little-endian RSA signature made with
    the Terminal Services signing key, padded with 8 zero bytes (72 bytes).
    """

    public_key: RsaPublicKeyBlob = spec("PublicKeyBlob")
    signature: bytes = spec("SignatureBlob")
    sig_alg_id: int = spec("dwSigAlgId", default=SIGNATURE_ALG_RSA)
    key_alg_id: int = spec("dwKeyAlgId", default=KEY_EXCHANGE_ALG_RSA)
    public_key_blob_type: int = spec("wPublicKeyBlobType", default=BB_RSA_KEY_BLOB)
    signature_blob_type: int = spec("wSignatureBlobType", default=BB_RSA_SIGNATURE_BLOB)


@pdu_dataclass
class X509CertificateChain:
    """The X.509 chain body (MS-RDPELE 2.2.1.4.2): DER certificates, root first, leaf last.

    ``padding`` is what follows the last CertBlob; Windows writes 8 + 4·n zero
    bytes (`x509_padding`).
    """

    certificates: tuple[bytes, ...] = spec("CertBlobArray")
    padding: bytes = spec("Padding")


@pdu_dataclass
class ServerCertificate:
    """SERVER_CERTIFICATE (MS-RDPBCGR 2.2.1.4.3.1).

    ``permanent`` is the ``t`` bit (bit 31 of dwVersion); the certificate
    chain version (bits 0-30) follows from the type of ``certificate``.
    """

    certificate: ProprietaryServerCertificate | X509CertificateChain = spec("certData")
    permanent: bool = spec("t", default=False)

    @property
    def cert_chain_version(self) -> int:
        """CERT_CHAIN_VERSION_1 (proprietary) or CERT_CHAIN_VERSION_2 (X.509)."""
        if isinstance(self.certificate, ProprietaryServerCertificate):
            return CERT_CHAIN_VERSION_1
        return CERT_CHAIN_VERSION_2

    @property
    def dw_version(self) -> int:
        """dwVersion as on the wire."""
        return self.cert_chain_version | (_T_BIT if self.permanent else 0)


def x509_padding(count: int) -> bytes:
    """The 8 + 4·count zero bytes Windows puts after a chain of ``count`` certificates."""
    return bytes(8 + 4 * count)


_RSA_PUBLIC_KEY = c.Struct(
    "magic" / c.Const(RSA1_MAGIC),
    "keylen" / c.Rebuild(c.Int32ul, c.len_(c.this.modulus)),
    "bitlen" / c.Int32ul,
    "datalen" / c.Int32ul,
    "pubExp" / c.Int32ul,
    "modulus" / c.Bytes(c.this.keylen),
    c.Terminated,
)

_PROPRIETARY = c.Struct(
    "dwSigAlgId" / c.Int32ul,
    "dwKeyAlgId" / c.Int32ul,
    "wPublicKeyBlobType" / c.Int16ul,
    "PublicKeyBlob" / c.Prefixed(c.Int16ul, _RSA_PUBLIC_KEY),
    "wSignatureBlobType" / c.Int16ul,
    "SignatureBlob" / c.Prefixed(c.Int16ul, c.GreedyBytes),
    c.Terminated,
)

_X509_CHAIN = c.Struct(
    "NumCertBlobs" / c.Rebuild(c.Int32ul, c.len_(c.this.CertBlobArray)),
    c.Check(c.this.NumCertBlobs >= 1),
    c.Check(c.this.NumCertBlobs <= MAX_CERT_BLOBS),
    "CertBlobArray" / c.Array(c.this.NumCertBlobs, c.Prefixed(c.Int32ul, c.GreedyBytes)),
    "Padding" / c.GreedyBytes,
)

_DW_VERSION = c.Int32ul
_STRUCTURE = "SERVER_CERTIFICATE"


def _parse(stream: io.BytesIO) -> ServerCertificate:
    dw_version = _DW_VERSION.parse_stream(stream)
    version = dw_version & _VERSION_MASK
    permanent = bool(dw_version & _T_BIT)
    body: ProprietaryServerCertificate | X509CertificateChain
    if version == CERT_CHAIN_VERSION_1:
        raw = _PROPRIETARY.parse_stream(stream)
        key = raw.PublicKeyBlob
        body = ProprietaryServerCertificate(
            sig_alg_id=raw.dwSigAlgId,
            key_alg_id=raw.dwKeyAlgId,
            public_key_blob_type=raw.wPublicKeyBlobType,
            public_key=RsaPublicKeyBlob(
                bitlen=key.bitlen, datalen=key.datalen, pub_exp=key.pubExp, modulus=key.modulus
            ),
            signature_blob_type=raw.wSignatureBlobType,
            signature=raw.SignatureBlob,
        )
    elif version == CERT_CHAIN_VERSION_2:
        raw = _X509_CHAIN.parse_stream(stream)
        body = X509CertificateChain(certificates=tuple(raw.CertBlobArray), padding=raw.Padding)
    else:
        raise PduError(
            _STRUCTURE, f"unknown certificate chain version {version}", field="dwVersion", offset=0
        )
    return ServerCertificate(certificate=body, permanent=permanent)


def decode_server_certificate(data: bytes) -> ServerCertificate:
    """Decode a whole SERVER_CERTIFICATE; any malformation raises `PduError`."""
    return guarded(_STRUCTURE, data, _parse)


def encode_server_certificate(certificate: ServerCertificate) -> bytes:
    """Encode ``certificate``; lengths and counts are derived from the content."""

    def build(_: io.BytesIO) -> bytes:
        body = certificate.certificate
        head = _DW_VERSION.build(certificate.dw_version)
        if isinstance(body, ProprietaryServerCertificate):
            key = body.public_key
            return head + _PROPRIETARY.build(
                {
                    "dwSigAlgId": body.sig_alg_id,
                    "dwKeyAlgId": body.key_alg_id,
                    "wPublicKeyBlobType": body.public_key_blob_type,
                    "PublicKeyBlob": {
                        "bitlen": key.bitlen,
                        "datalen": key.datalen,
                        "pubExp": key.pub_exp,
                        "modulus": key.modulus,
                    },
                    "wSignatureBlobType": body.signature_blob_type,
                    "SignatureBlob": body.signature,
                }
            )
        return head + _X509_CHAIN.build(
            {"CertBlobArray": list(body.certificates), "Padding": body.padding}
        )

    return guarded(_STRUCTURE, b"", build)
