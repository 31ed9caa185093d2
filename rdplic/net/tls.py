"""TLS for the RDP front end: the server certificate kept in the state directory, and the
pyOpenSSL context that Twisted's ``startTLS`` uses (MS-RDPBCGR 5.4.5.1).

Like a Windows RD Session Host without a configured certificate, the server makes itself a
self-signed certificate on first start (RSA 2048, subject CN = the host name, Server
Authentication EKU) and keeps it in ``<state dir>/tls/``; it is replaced when it expires.
TLS is capped at 1.2, the highest version Windows Server offers RDP clients.

An optional key log (the NSS format of ``SSLKEYLOGFILE``) lets Wireshark decrypt captures:
``tshark -o tls.keylog_file:FILE``.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from zope.interface import implementer

from rdplic.files import open_private

__all__ = [
    "CERTIFICATE_LIFETIME",
    "TlsCertificate",
    "TlsClientContextFactory",
    "TlsContextFactory",
    "load_or_create_certificate",
]

CERTIFICATE_LIFETIME = datetime.timedelta(days=180)
"""Windows' self-signed RDP certificates are valid for six months; ours too."""

_TLS_DIR = "tls"
_CERT_FILE = "rdp-server.crt"
_KEY_FILE = "rdp-server.key"


@dataclass(frozen=True, slots=True)
class TlsCertificate:
    """Where the server's TLS certificate and key are, and when the certificate expires."""

    certificate_path: Path
    key_path: Path
    not_after: datetime.datetime
    sha1_fingerprint: str


def _generate(common_name: str, now: datetime.datetime) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _describe(cert_path: Path, key_path: Path) -> TlsCertificate:
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return TlsCertificate(
        certificate_path=cert_path,
        key_path=key_path,
        not_after=certificate.not_valid_after_utc,
        sha1_fingerprint=certificate.fingerprint(hashes.SHA1()).hex(),
    )


def load_or_create_certificate(
    state_dir: Path,
    *,
    common_name: str | None = None,
    now: datetime.datetime | None = None,
) -> TlsCertificate:
    """The server certificate in ``state_dir/tls``, made (or remade when expired) if needed.

    The key file is written with mode 0600 before any content goes into it.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    directory = state_dir / _TLS_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path = directory / _CERT_FILE
    key_path = directory / _KEY_FILE
    if cert_path.exists() and key_path.exists():
        existing = _describe(cert_path, key_path)
        if existing.not_after > now + datetime.timedelta(days=1):
            return existing
    cert_pem, key_pem = _generate(common_name or socket.gethostname() or "rdplic", now)
    for path, data, mode in ((key_path, key_pem, 0o600), (cert_path, cert_pem, 0o644)):
        temporary = path.with_suffix(path.suffix + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    return _describe(cert_path, key_path)


@implementer(IOpenSSLServerConnectionCreator)
class TlsContextFactory:
    """A pyOpenSSL server context for ``ITLSTransport.startTLS`` (Twisted's old
    ``ContextFactory`` interface: ``getContext()``), shared by every connection.

    :param keylog_path: append TLS secrets there in the NSS key log format (for Wireshark)
    """

    def __init__(self, certificate: TlsCertificate, *, keylog_path: Path | None = None) -> None:
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        # Windows Server offers RDP clients TLS 1.0 to 1.2; 1.0 and 1.1 are left to
        # OpenSSL's security level, which refuses them on current systems.
        context.set_max_proto_version(SSL.TLS1_2_VERSION)
        context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
        context.use_certificate_file(str(certificate.certificate_path))
        context.use_privatekey_file(str(certificate.key_path))
        context.check_privatekey()
        self._keylog_lock = threading.Lock()
        self._keylog_path = keylog_path
        if keylog_path is not None:
            # Created (0600) now, so that a path that cannot be written is an error at start.
            open_private(keylog_path, append=True).close()
            context.set_keylog_callback(self._write_keylog)
        self._context = context
        self.certificate = certificate

    def _write_keylog(self, _connection: SSL.Connection, line: bytes) -> None:
        assert self._keylog_path is not None
        # TLS session secrets: the file is created 0600 (or narrowed to it).
        with self._keylog_lock, open_private(self._keylog_path, append=True) as handle:
            handle.write(line + b"\n")

    def getContext(self) -> SSL.Context:
        """The shared server context."""
        return self._context

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """``IOpenSSLServerConnectionCreator``: a connection on the shared context.

        Providing the interface saves Twisted wrapping this factory in an adapter for
        every connection that starts TLS."""
        return SSL.Connection(self._context, None)


@implementer(IOpenSSLClientConnectionCreator)
class TlsClientContextFactory:
    """The simulated client's TLS: any server certificate accepted (``/cert:ignore``).

    An RDP client cannot check a certificate that is self-signed for a host name it never
    saw, and Windows' own is; the server's identity in RDP licensing is its certificate
    chain inside the License Request, which the licensing client does verify.  Built on
    pyOpenSSL alone (Twisted's ``CertificateOptions`` wants ``service_identity``), capped
    at TLS 1.2 as Windows' RDP listener is.
    """

    def __init__(self) -> None:
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_max_proto_version(SSL.TLS1_2_VERSION)
        context.set_verify(SSL.VERIFY_NONE)
        self._context = context

    def getContext(self) -> SSL.Context:
        """The shared client context."""
        return self._context

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """``IOpenSSLClientConnectionCreator``: a client connection on the shared context."""
        connection = SSL.Connection(self._context, None)
        connection.set_connect_state()
        return connection
