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
