# asn1crypto ships no type information, so its base classes are Any to mypy.
# mypy: allow-subclassing-any
"""ASN.1 types for the certificates Windows licensing uses (asn1crypto).

Standard X.509 libraries refuse parts of what Windows writes: the
terminal-server key is tagged with OID 1.3.14.3.2.15 instead of
rsaEncryption, names use BMPString where RFC 5280 wants PrintableString
(serialNumber), and the AuthorityKeyIdentifier of terminal-server and client
certificates holds raw UTF-16 text where a directoryName belongs.  These
definitions keep every such field as opaque ASN.1 (``Any``) or raw bytes so
that any Windows certificate parses, and build the same shapes with
asn1crypto rather than by concatenating bytes.

The license itself (MS-RDPELE 2.2.2.6.1 pbLicenseInfo, as in the examples of
MS-RDPELE 4.3 and 4.6) is a PKCS#7 ContentInfo of type signedData that holds
only certificates; its certificate SET is in issuing order (license server
first, client license last), not in DER sort order, so `SignedData` keeps the
order it was given.

A license is built and checked once per licensing handshake, where asn1crypto's object
model costs milliseconds.  The ``der_*`` functions below write the same DER directly
(`rdplic.crypto.license` builds its licenses with them), and `der_children` splits DER
without interpreting it; tests check both against asn1crypto.
"""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import core
from asn1crypto import x509 as ax509

__all__ = [
    "OID_AUTHORITY_KEY_IDENTIFIER",
    "OID_BASIC_CONSTRAINTS",
    "OID_COMMON_NAME",
    "OID_LOCALITY",
    "OID_MD5_RSA",
    "OID_PKCS7_DATA",
    "OID_PKCS7_SIGNED_DATA",
    "OID_RSA_ENCRYPTION",
    "OID_RSA_OIW",
    "OID_SERIAL_NUMBER",
    "OID_SHA1_RSA",
    "OID_SHA1_RSA_OIW",
    "OID_SHA256_RSA",
    "AlgorithmIdentifier",
    "AuthorityKeyIdentifier",
    "BasicConstraints",
    "Certificate",
    "ContentInfo",
    "Extension",
    "Extensions",
    "Name",
    "SignedData",
    "SubjectPublicKeyInfo",
    "TbsCertificate",
    "WindowsDirectoryName",
    "build_name",
    "der_bmp_string",
    "der_children",
    "der_integer",
    "der_name",
    "der_oid",
    "der_read",
    "der_sequence",
    "der_time",
    "der_tlv",
    "name_attributes",
    "time_value",
]

OID_PKCS7_DATA = "1.2.840.113549.1.7.1"
OID_PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_RSA_OIW = "1.3.14.3.2.15"
"""The key algorithm of Windows terminal-server certificates (OIW "RSA signature")."""
OID_SHA1_RSA_OIW = "1.3.14.3.2.29"
"""sha1WithRSASignature (OIW): the signature algorithm of every Windows licensing certificate."""
OID_SHA1_RSA = "1.2.840.113549.1.1.5"
OID_SHA256_RSA = "1.2.840.113549.1.1.11"
OID_MD5_RSA = "1.2.840.113549.1.1.4"
OID_COMMON_NAME = "2.5.4.3"
OID_LOCALITY = "2.5.4.7"
OID_SERIAL_NUMBER = "2.5.4.5"
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_AUTHORITY_KEY_IDENTIFIER = "2.5.29.35"


class AlgorithmIdentifier(core.Sequence):
    """AlgorithmIdentifier with parameters kept opaque (NULL in everything Windows sends)."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class AttributeTypeAndValue(core.Sequence):
    """One name attribute; the value keeps its string type (BMPString, PrintableString…)."""

    _fields = [  # noqa: RUF012
        ("type", core.ObjectIdentifier),
        ("value", core.Any),
    ]


class RelativeDistinguishedName(core.SetOf):
    _child_spec = AttributeTypeAndValue


class Name(core.SequenceOf):
    """A distinguished name (RDNSequence)."""

    _child_spec = RelativeDistinguishedName


class SubjectPublicKeyInfo(core.Sequence):
    """SubjectPublicKeyInfo whose algorithm may be 1.3.14.3.2.15 (refused by X.509 libraries)."""

    _fields = [  # noqa: RUF012
        ("algorithm", AlgorithmIdentifier),
        ("public_key", core.OctetBitString),
    ]


class Extension(core.Sequence):
    """One extension; the value stays raw bytes (Microsoft's are little-endian structures)."""

    _fields = [  # noqa: RUF012
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class Extensions(core.SequenceOf):
    _child_spec = Extension


class TbsCertificate(core.Sequence):
    """TBSCertificate (RFC 5280 4.1) with the lenient field types above."""

    _fields = [  # noqa: RUF012
        ("version", ax509.Version, {"explicit": 0, "default": "v1"}),
        ("serial_number", core.Integer),
        ("signature", AlgorithmIdentifier),
        ("issuer", Name),
        ("validity", ax509.Validity),
        ("subject", Name),
        ("subject_public_key_info", SubjectPublicKeyInfo),
        ("issuer_unique_id", core.OctetBitString, {"implicit": 1, "optional": True}),
        ("subject_unique_id", core.OctetBitString, {"implicit": 2, "optional": True}),
        ("extensions", Extensions, {"explicit": 3, "optional": True}),
    ]


class Certificate(core.Sequence):
    """Certificate (RFC 5280 4.1)."""

    _fields = [  # noqa: RUF012
        ("tbs_certificate", TbsCertificate),
        ("signature_algorithm", AlgorithmIdentifier),
        ("signature_value", core.OctetBitString),
    ]


class BasicConstraints(core.Sequence):
    """BasicConstraints (RFC 5280 4.2.1.9); license-server certificates: CA, pathlen 0."""

    _fields = [  # noqa: RUF012
        ("ca", core.Boolean, {"default": False}),
        ("path_len_constraint", core.Integer, {"optional": True}),
    ]


class WindowsDirectoryName(core.Asn1Value):
    """GeneralName ``[4] directoryName`` holding raw UTF-16LE text instead of a Name.

    This is what Windows writes in the AuthorityKeyIdentifier of
    terminal-server certificates and client licenses (MS-RDPELE 4.1, 4.3).
    """

    class_ = 2
    method = 1
    tag = 4


class _GeneralNames(core.SequenceOf):
    _child_spec = core.Any


class AuthorityKeyIdentifier(core.Sequence):
    """AuthorityKeyIdentifier as Windows fills it: issuer name and certificate serial only."""

    _fields = [  # noqa: RUF012
        ("key_identifier", core.OctetString, {"implicit": 0, "optional": True}),
        ("authority_cert_issuer", _GeneralNames, {"implicit": 1, "optional": True}),
        ("authority_cert_serial_number", core.Integer, {"implicit": 2, "optional": True}),
    ]


class _AnySet(core.SetOf):
    _child_spec = core.Any


class EncapsulatedContentInfo(core.Sequence):
    _fields = [  # noqa: RUF012
        ("content_type", core.ObjectIdentifier),
        ("content", core.Any, {"explicit": 0, "optional": True}),
    ]


class SignedData(core.Sequence):
    """PKCS#7 SignedData (RFC 2315 9.1) with certificates kept in the order given."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("digest_algorithms", _AnySet),
        ("encap_content_info", EncapsulatedContentInfo),
        ("certificates", _AnySet, {"implicit": 0, "optional": True}),
        ("crls", _AnySet, {"implicit": 1, "optional": True}),
        ("signer_infos", _AnySet),
    ]

    @classmethod
    def certificates_only(cls, certificates: list[bytes]) -> SignedData:
        """A SignedData with no content and no signers: a bag of certificates, as Windows issues."""
        return cls(
            {
                "version": 1,
                "digest_algorithms": _AnySet([]),
                "encap_content_info": {"content_type": OID_PKCS7_DATA},
                # Built from contents so that asn1crypto keeps the issuing order
                # instead of sorting the SET as DER would.
                "certificates": _AnySet(contents=b"".join(certificates)),
                "signer_infos": _AnySet([]),
            }
        )


class ContentInfo(core.Sequence):
    """PKCS#7 ContentInfo (RFC 2315 7) whose content is SignedData: the only kind a license is."""

    _fields = [  # noqa: RUF012
        ("content_type", core.ObjectIdentifier),
        ("content", SignedData, {"explicit": 0}),
    ]


def build_name(*attributes: tuple[str, str]) -> Name:
    """A Name with one attribute per RDN, each a BMPString, in the order given (as Windows)."""
    return Name(
        [
            RelativeDistinguishedName([{"type": oid, "value": core.BMPString(value)}])
            for oid, value in attributes
        ]
    )


def name_attributes(name: Name) -> list[tuple[str, str]]:
    """(OID, text) for every attribute of ``name``; raises ValueError on a non-string value."""
    out: list[tuple[str, str]] = []
    for rdn in name:
        for atv in rdn:
            value = core.load(atv["value"].dump(), strict=True)
            if not isinstance(value, core.AbstractString):
                raise ValueError(f"name attribute {atv['type'].dotted} is not a string")
            out.append((atv["type"].dotted, str(value.native)))
    return out


def time_value(moment: datetime) -> ax509.Time:
    """UTCTime before 2050, GeneralizedTime after (RFC 5280 4.1.2.5); whole seconds, UTC."""
    if moment.tzinfo is None:
        raise ValueError("certificate times must be timezone-aware")
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if 1950 <= moment.year < 2050:
        return ax509.Time(name="utc_time", value=moment)
    return ax509.Time(name="general_time", value=moment)


# --------------------------------------------------------------------------------------------
# DER written and split directly (the hot path of issuing and checking licenses)

TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_UTC_TIME = 0x17
TAG_GENERALIZED_TIME = 0x18
TAG_BMP_STRING = 0x1E
TAG_SEQUENCE = 0x30
TAG_SET = 0x31


def der_tlv(tag: int, content: bytes) -> bytes:
    """A single-byte tag, the DER (shortest) length and ``content``."""
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


def der_sequence(*parts: bytes) -> bytes:
    """A SEQUENCE of already encoded ``parts``."""
    return der_tlv(TAG_SEQUENCE, b"".join(parts))


def der_integer(value: int, tag: int = TAG_INTEGER) -> bytes:
    """An INTEGER (two's complement, shortest form), with another tag for IMPLICIT ones."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return der_tlv(tag, value.to_bytes(size, "big", signed=True))


def der_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form."""
    arcs = [int(arc) for arc in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise ValueError(f"not an object identifier: {dotted}")
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return der_tlv(TAG_OID, bytes(body))


def der_bmp_string(text: str) -> bytes:
    """A BMPString (UTF-16BE, as asn1crypto writes it: characters beyond the BMP as pairs)."""
    return der_tlv(TAG_BMP_STRING, text.encode("utf-16-be"))


def der_name(*attributes: tuple[bytes, str]) -> bytes:
    """What `build_name` makes: one BMPString attribute per RDN; OIDs given DER-encoded."""
    return der_sequence(
        *(der_tlv(TAG_SET, der_sequence(oid, der_bmp_string(value))) for oid, value in attributes)
    )


def der_time(moment: datetime) -> bytes:
    """What `time_value` makes: UTCTime before 2050, GeneralizedTime after; whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("certificate times must be timezone-aware")
    moment = moment.astimezone(UTC)
    if 1950 <= moment.year < 2050:
        text = f"{moment.year % 100:02d}{moment:%m%d%H%M%S}Z"
        return der_tlv(TAG_UTC_TIME, text.encode("ascii"))
    if moment.year >= 1000:
        text = f"{moment.year:04d}{moment:%m%d%H%M%S}Z"
        return der_tlv(TAG_GENERALIZED_TIME, text.encode("ascii"))
    # Years below 1000: whatever asn1crypto writes (strftime's unpadded year).
    return bytes(time_value(moment).dump())


def der_read(data: bytes, offset: int, end: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the element at ``offset``.

    Single-byte tags and definite lengths only; raises ValueError when the element does
    not fit before ``end``.  The length form is not checked: callers that need DER
    compare with a re-encoding.
    """
    if offset + 2 > end:
        raise ValueError("truncated DER element")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte DER tag")
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        size = first & 0x7F
        if size == 0 or size > 4 or start + size > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    if start + length > end:
        raise ValueError("DER element runs past its container")
    return tag, start, start + length


def der_children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in ``data[start:end]``."""
    out = []
    offset = start
    while offset < end:
        tag, content, stop = der_read(data, offset, end)
        out.append((tag, offset, content, stop))
        offset = stop
    return out
