"""X.509 certificates of Windows licensing: license server, terminal server, chains.

MS-RDPELE 2.2.1.4.2 and the example of MS-RDPELE 4.1: a license server that is
not activated signs its own certificate, and issues the terminal server a
certificate whose key encrypts the client's premaster secret.  The Server
License Request carries both as a SERVER_CERTIFICATE with CERT_CHAIN_VERSION_2
(license-server certificate first, terminal-server certificate last).

What Windows writes, reproduced here (MS-RDPELE 4.1; a Windows Server 2019
chain in IronRDP's tests):

* every certificate is X.509 v3 signed with sha1WithRSA under the OIW OID
  1.3.14.3.2.29 (PKCS#1 v1.5, SHA-1);
* names are BMPStrings: CN = license server name, L = scope (workgroup or
  domain) for the license server; the terminal server is ``ncalrpc:<name>``
  (CN cut to 16 characters) with a serialNumber holding its hardware id;
* the license-server certificate is valid from the day it was created, moved
  to 1970, until the same moment in 2049, its serial number is that 1970
  moment as a Windows FILETIME, and it carries BasicConstraints CA, pathlen 0;
* the terminal-server key is tagged 1.3.14.3.2.15 rather than rsaEncryption
  and the certificate runs until 2038-01-19 03:14:07 with the critical
  Microsoft extensions of `rdplic.crypto.hydra` and an AuthorityKeyIdentifier
  holding the issuer name as raw UTF-16.

Everything is built with asn1crypto from the lenient types in
`rdplic.crypto.asn1`; signatures use ``cryptography``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core
from asn1crypto import keys as akeys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from rdplic.crypto import asn1, hydra
from rdplic.crypto.errors import CertificateError
from rdplic.crypto.proprietary import proprietary_public_key, verify_proprietary_certificate
from rdplic.crypto.rsa import RsaPrivateKey, RsaPublicKey
from rdplic.pdu.certificates import (
    ProprietaryServerCertificate,
    ServerCertificate,
    X509CertificateChain,
    decode_server_certificate,
    encode_server_certificate,
    x509_padding,
)
from rdplic.pdu.errors import PduError

__all__ = [
    "TERMINAL_SERVER_NOT_AFTER",
    "LicenseServerIdentity",
    "ParsedCertificate",
    "build_license_server_certificate",
    "build_terminal_server_certificate",
    "build_x509_chain",
    "certificate_der",
    "certificate_signed_by",
    "parse_certificate",
    "public_key_from_server_certificate",
    "sign_tbs",
    "sign_tbs_der",
    "terminal_server_binding",
    "verify_server_certificate",
    "verify_x509_chain",
]

TERMINAL_SERVER_NOT_AFTER = datetime(2038, 1, 19, 3, 14, 7, tzinfo=UTC)
"""notAfter of every Windows terminal-server certificate (the 32-bit time_t limit)."""
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_TERMINAL_SERVER_SERIAL = 0x0100000002
"""Serial of the terminal-server certificates of MS-RDPELE 4.1 and of Windows Server 2019."""
_TERMINAL_SERVER_LANGUAGE = 0x409
_KEY_ALGORITHMS = frozenset({asn1.OID_RSA_ENCRYPTION, asn1.OID_RSA_OIW})
_SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    asn1.OID_SHA1_RSA_OIW: hashes.SHA1,
    asn1.OID_SHA1_RSA: hashes.SHA1,
    asn1.OID_SHA256_RSA: hashes.SHA256,
    asn1.OID_MD5_RSA: hashes.MD5,
}


@dataclass(frozen=True, slots=True)
class LicenseServerIdentity:
    """Who issues licenses: the names Windows writes into them, the key and the certificate.

    ``name`` is the license server's NetBIOS name, ``scope`` its workgroup or
    domain ("WORKGROUP"), ``product_id`` its Windows product id (the IssuerId
    of MS_LICENSE_SERVER_INFO), ``certificate`` its DER certificate whose
    subject becomes the issuer of everything it signs.
    """

    name: str
    scope: str
    product_id: str
    private_key: RsaPrivateKey
    certificate: bytes


@dataclass(frozen=True, slots=True)
class ParsedCertificate:
    """The parts of a DER certificate that licensing needs, read leniently."""

    der: bytes
    tbs: bytes
    serial: int
    issuer: bytes
    """DER of the issuer Name."""
    subject: bytes
    """DER of the subject Name."""
    issuer_attributes: tuple[tuple[str, str], ...]
    subject_attributes: tuple[tuple[str, str], ...]
    not_before: datetime
    not_after: datetime
    key_algorithm: str
    public_key: RsaPublicKey
    spki: bytes
    """DER of the SubjectPublicKeyInfo."""
    signature_algorithm: str
    signature: bytes
    extensions: tuple[tuple[str, bool, bytes], ...]
    """(OID, critical, value) in certificate order."""
    algorithms_agree: bool
    """Whether signatureAlgorithm equals the TBS signature field (RFC 5280 4.1.1.2)."""

    def extension(self, oid: str) -> bytes | None:
        """The value of the first extension with ``oid``, or None."""
        for ext_oid, _, value in self.extensions:
            if ext_oid == oid:
                return value
        return None

    def subject_attribute(self, oid: str) -> str | None:
        """The first subject attribute with ``oid``, or None."""
        return next((v for o, v in self.subject_attributes if o == oid), None)

    def issuer_attribute(self, oid: str) -> str | None:
        """The first issuer attribute with ``oid``, or None."""
        return next((v for o, v in self.issuer_attributes if o == oid), None)


def _filetime(moment: datetime) -> int:
    delta = moment - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _rsa_public_key_der(public: RsaPublicKey) -> bytes:
    return bytes(akeys.RSAPublicKey({"modulus": public.n, "public_exponent": public.e}).dump())


def _spki(public: RsaPublicKey, algorithm: str) -> asn1.SubjectPublicKeyInfo:
    return asn1.SubjectPublicKeyInfo(
        {
            "algorithm": {"algorithm": algorithm, "parameters": core.Null()},
            "public_key": _rsa_public_key_der(public),
        }
    )


def _sha1_rsa() -> dict[str, object]:
    return {"algorithm": asn1.OID_SHA1_RSA_OIW, "parameters": core.Null()}


_SHA1_RSA_DER = asn1.der_sequence(asn1.der_oid(asn1.OID_SHA1_RSA_OIW), b"\x05\x00")
"""The AlgorithmIdentifier sha1WithRSA (OIW) with NULL parameters, as `_sha1_rsa` encodes."""


def certificate_der(tbs_der: bytes, signature: bytes) -> bytes:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }.

    The TBS bytes as given, sha1WithRSA (OIW) and the signature in a BIT STRING.
    """
    bit_string = asn1.der_tlv(asn1.TAG_BIT_STRING, b"\x00" + signature)
    return asn1.der_sequence(tbs_der, _SHA1_RSA_DER, bit_string)


def sign_tbs_der(tbs_der: bytes, key: RsaPrivateKey) -> bytes:
    """The DER certificate for the DER ``tbs_der`` signed with ``key`` (PKCS#1 v1.5, SHA-1)."""
    signature = key.to_cryptography().sign(tbs_der, padding.PKCS1v15(), hashes.SHA1())
    return certificate_der(tbs_der, signature)


def sign_tbs(tbs: asn1.TbsCertificate, key: RsaPrivateKey) -> bytes:
    """The DER certificate for ``tbs`` signed with ``key`` (sha1WithRSA, OID 1.3.14.3.2.29)."""
    return sign_tbs_der(bytes(tbs.dump()), key)


def _critical(oid: str, value: bytes) -> dict[str, object]:
    return {"extn_id": oid, "critical": True, "extn_value": value}


def _authority_key_identifier(issuer_name: str, serial: int) -> bytes:
    raw_name = asn1.WindowsDirectoryName(contents=hydra.utf16z(issuer_name))
    aki = asn1.AuthorityKeyIdentifier(
        {
            "authority_cert_issuer": [core.Any.load(raw_name.dump())],
            "authority_cert_serial_number": serial,
        }
    )
    return bytes(aki.dump())


def _check_aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise CertificateError(f"{what} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _year_moved(moment: datetime, year: int) -> datetime:
    if moment.month == 2 and moment.day == 29:
        moment = moment.replace(day=28)
    return moment.replace(year=year)


def build_license_server_certificate(
    key: RsaPrivateKey, *, name: str, scope: str, created: datetime
) -> bytes:
    """A self-signed license-server certificate, as an unactivated Windows license server makes.

    ``created`` (timezone-aware) is the moment the license server was set up;
    the certificate runs from that moment moved to 1970 to the same moment in
    2049, and its serial number is the 1970 moment as a FILETIME.
    """
    created = _check_aware(created, "created")
    not_before = _year_moved(created, 1970)
    not_after = _year_moved(created, 2049).replace(microsecond=0)
    subject = asn1.build_name((asn1.OID_COMMON_NAME, name), (asn1.OID_LOCALITY, scope))
    basic = asn1.BasicConstraints({"ca": True, "path_len_constraint": 0})
    tbs = asn1.TbsCertificate(
        {
            "version": "v3",
            "serial_number": _filetime(not_before),
            "signature": _sha1_rsa(),
            "issuer": subject,
            "validity": {
                "not_before": asn1.time_value(not_before),
                "not_after": asn1.time_value(not_after),
            },
            "subject": subject,
            "subject_public_key_info": _spki(key.public, asn1.OID_RSA_ENCRYPTION),
            "extensions": [{"extn_id": asn1.OID_BASIC_CONSTRAINTS, "extn_value": basic.dump()}],
        }
    )
    return sign_tbs(tbs, key)


def terminal_server_binding(server_name: str) -> str:
    """The subject text Windows uses for a terminal server reached over local RPC."""
    return f"ncalrpc:{server_name}"


def build_terminal_server_certificate(
    issuer: LicenseServerIdentity,
    public: RsaPublicKey,
    *,
    server_name: str,
    hwid: bytes,
    issued: datetime,
    serial: int = _TERMINAL_SERVER_SERIAL,
    language_id: int = _TERMINAL_SERVER_LANGUAGE,
) -> bytes:
    """The terminal-server certificate ``issuer`` gives the server whose key is ``public``.

    Shaped after MS-RDPELE 4.1: subject ``ncalrpc:<server_name>`` (CN cut to
    16 characters as Windows does), serialNumber from the server's 20-byte
    ``hwid``, key tagged 1.3.14.3.2.15, valid from ``issued`` to 2038-01-19.
    """
    issued = _check_aware(issued, "issued")
    issuer_cert = parse_certificate(issuer.certificate)
    binding = terminal_server_binding(server_name)
    try:
        hwid_text = hydra.encode_hwid_serial(hwid)
    except ValueError as error:
        raise CertificateError(str(error)) from None
    subject = asn1.build_name(
        (asn1.OID_COMMON_NAME, binding[:16]),
        (asn1.OID_LOCALITY, binding),
        (asn1.OID_SERIAL_NUMBER, hwid_text),
    )
    product = hydra.LicensedProductInfo(
        platform_id=2,
        language_id=language_id,
        requested_product_id=hydra.TERMINAL_SERVER_PRODUCT_ID,
        adjusted_product_id=hydra.TERMINAL_SERVER_PRODUCT_ID,
        version_info=(
            hydra.LicensedVersionInfo(0, 0, hydra.RTM_LICENSE | hydra.LICENSE_ENFORCED),
            hydra.LicensedVersionInfo(0, 0x1000, hydra.RTM_LICENSE | hydra.LICENSE_ENFORCED),
            hydra.LicensedVersionInfo(0, 0, hydra.RTM_LICENSE | hydra.LICENSE_ENFORCED),
        ),
    )
    server_info = hydra.LicenseServerInfo(
        issuer_name=issuer.name, issuer_id=issuer.product_id, scope=issuer.scope
    )
    tbs = asn1.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": _sha1_rsa(),
            "issuer": asn1.Name.load(issuer_cert.subject),
            "validity": {
                "not_before": asn1.time_value(issued),
                "not_after": asn1.time_value(TERMINAL_SERVER_NOT_AFTER),
            },
            "subject": subject,
            "subject_public_key_info": _spki(public, asn1.OID_RSA_OIW),
            "extensions": [
                _critical(hydra.OID_CERT_VERSION, hydra.HYDRA_CERT_VERSION.to_bytes(4, "little")),
                _critical(hydra.OID_MANUFACTURER, hydra.utf16z(hydra.MANUFACTURER)),
                _critical(hydra.OID_LICENSED_PRODUCT_INFO, product.encode()),
                _critical(hydra.OID_LICENSE_SERVER_INFO, server_info.encode()),
                _critical(
                    asn1.OID_AUTHORITY_KEY_IDENTIFIER,
                    _authority_key_identifier(issuer.name, serial),
                ),
            ],
        }
    )
    return sign_tbs(tbs, issuer.private_key)


def build_x509_chain(certs: list[bytes], *, permanent: bool = True) -> bytes:
    """SERVER_CERTIFICATE bytes (CERT_CHAIN_VERSION_2) for DER certificates, root first.

    Windows sets the ``t`` bit (dwVersion 0x80000002) and pads with 8 + 4·n zero bytes.
    """
    if not 1 <= len(certs) <= 200:
        raise CertificateError("an X.509 chain holds 1 to 200 certificates")
    chain = X509CertificateChain(certificates=tuple(certs), padding=x509_padding(len(certs)))
    return encode_server_certificate(ServerCertificate(certificate=chain, permanent=permanent))


def _names(name: asn1.Name) -> tuple[tuple[str, str], ...]:
    return tuple(asn1.name_attributes(name))


def parse_certificate(der: bytes) -> ParsedCertificate:
    """Read a DER certificate leniently (either RSA key OID Windows uses), or `CertificateError`."""
    try:
        certificate = asn1.Certificate.load(bytes(der), strict=True)
        tbs = certificate["tbs_certificate"]
        spki = tbs["subject_public_key_info"]
        key_algorithm = spki["algorithm"]["algorithm"].dotted
        if key_algorithm not in _KEY_ALGORITHMS:
            raise CertificateError(f"certificate key algorithm {key_algorithm} is not RSA")
        for bit_string in (spki["public_key"], certificate["signature_value"]):
            if bit_string.contents[:1] != b"\x00":
                raise CertificateError("key or signature BIT STRING has unused bits")
        rsa_key = akeys.RSAPublicKey.load(spki["public_key"].native, strict=True)
        public = RsaPublicKey(rsa_key["modulus"].native, rsa_key["public_exponent"].native)
        extensions = tbs["extensions"]
        ext_list = (
            ()
            if isinstance(extensions, core.Void)
            else tuple(
                (e["extn_id"].dotted, bool(e["critical"].native), bytes(e["extn_value"].native))
                for e in extensions
            )
        )
        validity = tbs["validity"]
        return ParsedCertificate(
            der=bytes(der),
            tbs=bytes(tbs.dump()),
            serial=int(tbs["serial_number"].native),
            issuer=bytes(tbs["issuer"].dump()),
            subject=bytes(tbs["subject"].dump()),
            issuer_attributes=_names(tbs["issuer"]),
            subject_attributes=_names(tbs["subject"]),
            not_before=validity["not_before"].native,
            not_after=validity["not_after"].native,
            key_algorithm=key_algorithm,
            public_key=public,
            spki=bytes(spki.dump()),
            signature_algorithm=certificate["signature_algorithm"]["algorithm"].dotted,
            signature=bytes(certificate["signature_value"].native),
            extensions=ext_list,
            algorithms_agree=(certificate["signature_algorithm"].dump() == tbs["signature"].dump()),
        )
    except CertificateError:
        raise
    except Exception as error:  # asn1crypto raises many types on hostile input
        raise CertificateError(f"malformed certificate: {error}") from None


def certificate_signed_by(certificate: ParsedCertificate, issuer_key: RsaPublicKey) -> bool:
    """Whether ``certificate``'s signature verifies with ``issuer_key`` (PKCS#1 v1.5)."""
    algorithm = _SIGNATURE_HASHES.get(certificate.signature_algorithm)
    if algorithm is None or not certificate.algorithms_agree:
        return False
    try:
        issuer_key.to_cryptography().verify(
            certificate.signature, certificate.tbs, padding.PKCS1v15(), algorithm()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def _decode(data: bytes) -> ServerCertificate:
    try:
        return decode_server_certificate(data)
    except PduError as error:
        raise CertificateError(f"malformed server certificate: {error}") from None


def public_key_from_server_certificate(data: bytes) -> RsaPublicKey:
    """The key that encrypts the premaster secret: proprietary key, or the chain's leaf key.

    Works on both SERVER_CERTIFICATE forms and on the 1.3.14.3.2.15 key OID;
    checks no signature (see `verify_server_certificate`).
    """
    decoded = _decode(data)
    body = decoded.certificate
    if isinstance(body, ProprietaryServerCertificate):
        return proprietary_public_key(body)
    return parse_certificate(body.certificates[-1]).public_key


def verify_x509_chain(data: bytes) -> RsaPublicKey:
    """The leaf key of an X.509 SERVER_CERTIFICATE whose chain verifies link by link.

    Each certificate must name the previous one's subject as issuer and carry
    its signature; the first must verify with its own key when it is
    self-issued.  There is no trust anchor: a license server that is not
    activated is its own root, as in MS-RDPELE 4.1, and the first certificate
    of an activated one (issued by Microsoft's clearing house, whose
    certificate is not in the chain) cannot be authenticated at all.
    """
    decoded = _decode(data)
    body = decoded.certificate
    if not isinstance(body, X509CertificateChain):
        raise CertificateError("not an X.509 certificate chain (dwVersion is proprietary)")
    parsed = [parse_certificate(der) for der in body.certificates]
    first = parsed[0]
    if first.issuer == first.subject and not certificate_signed_by(first, first.public_key):
        raise CertificateError("root certificate self-signature does not verify")
    for index in range(1, len(parsed)):
        issuer, subject = parsed[index - 1], parsed[index]
        if subject.issuer != issuer.subject:
            raise CertificateError(f"certificate {index} is not issued by certificate {index - 1}")
        if not certificate_signed_by(subject, issuer.public_key):
            raise CertificateError(f"certificate {index} signature does not verify")
    return parsed[-1].public_key


def verify_server_certificate(data: bytes) -> RsaPublicKey:
    """The server key from either SERVER_CERTIFICATE form, after checking its signature(s).

    A client meets the same certificate at every connection to a server: the verdict on
    the exact bytes is kept (a few of them; a pure function of the bytes, so nothing
    changes but the time; a certificate that fails is checked again each time).
    """
    if type(data) is bytes:
        return _verified_server_key(data)
    return _verify_server_certificate(data)


@functools.lru_cache(maxsize=16)
def _verified_server_key(data: bytes) -> RsaPublicKey:
    return _verify_server_certificate(data)


def _verify_server_certificate(data: bytes) -> RsaPublicKey:
    body = _decode(data).certificate
    if isinstance(body, ProprietaryServerCertificate):
        return verify_proprietary_certificate(data)
    return verify_x509_chain(data)
