"""TLS for RDP (MS-RDPBCGR 5.4.5.1): the server certificate kept in the state directory, the
contexts, and `TlsSession`, TLS over any byte stream without a socket of its own.

Like a Windows RD Session Host without a configured certificate, the server makes itself a
self-signed certificate on first start (RSA 2048, subject CN = the host name, Server
Authentication EKU) and keeps it in ``<state dir>/tls/``; it is replaced when it expires.
TLS is capped at 1.2, the highest version Windows Server offers RDP clients.

RDP starts TLS in the middle of a TCP connection, after the X.224 exchange in clear.  The
adapters do not ask Twisted to switch the transport (``startTLS`` and its private
machinery): they keep the plain TCP transport and put a `TlsSession` between it and the
connection machine, the standard library's ``ssl.SSLObject`` over two memory BIOs (OpenSSL,
in C).  Ciphertext from the socket goes into `TlsSession.receive`, which gives back the
plaintext and the records to send; plaintext to send goes through `TlsSession.send`.  The
bytes a client sent after its Connection Request go into the same `receive`, so a
ClientHello there works and plaintext there fails the handshake (architecture invariant 9).

An optional key log (the NSS format of ``SSLKEYLOGFILE``) lets Wireshark decrypt captures:
``tshark -o tls.keylog_file:FILE``.  It holds session secrets: created 0600.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rdplic.errors import RdplicError
from rdplic.files import open_private

__all__ = [
    "CERTIFICATE_LIFETIME",
    "TlsCertificate",
    "TlsError",
    "TlsSession",
    "client_tls_context",
    "load_or_create_certificate",
    "server_tls_context",
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


def server_tls_context(
    certificate: TlsCertificate, *, keylog_path: Path | None = None
) -> ssl.SSLContext:
    """The server's context, shared by every connection: TLS 1.2 at most (Windows' RDP
    listener offers 1.0 to 1.2; 1.0 and 1.1 are left to OpenSSL's security level, which
    refuses them on current systems), no compression, the server's cipher order.

    :param keylog_path: append TLS secrets there in the NSS key log format; the file is
        created 0600 (or narrowed to it) now, so that a path that cannot be written is an
        error at start
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(str(certificate.certificate_path), str(certificate.key_path))
    if keylog_path is not None:
        open_private(keylog_path, append=True).close()
        context.keylog_filename = str(keylog_path)  # OpenSSL appends; the mode stays 0600
    return context


@functools.cache
def client_tls_context() -> ssl.SSLContext:
    """The simulated client's context, made once: any server certificate accepted
    (``/cert:ignore``).

    An RDP client cannot check a self-signed certificate for a host name it never saw, and
    Windows' own is one; the server's identity in RDP licensing is the certificate chain in
    the License Request, which the licensing client does verify.  TLS 1.2 at most, as
    Windows' RDP listener.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


class TlsError(RdplicError):
    """The TLS handshake or a record failed (plaintext where TLS was expected, an alert)."""


class TlsSession:
    """TLS over a byte stream: ciphertext in and out, plaintext in and out, no socket.

    :param server_side: the server's role (the client's otherwise)
    """

    __slots__ = ("_in", "_out", "_tls", "established", "peer_closed")

    def __init__(self, context: ssl.SSLContext, *, server_side: bool) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_side=server_side)
        self.established = False
        """The handshake has completed."""
        self.peer_closed = False
        """The peer sent close_notify."""

    def start(self) -> bytes:
        """Begin the handshake; for a client, the ClientHello to send."""
        self._handshake()
        return self._out.read()

    def receive(self, data: bytes) -> tuple[bytes, bytes]:
        """Ciphertext from the peer: the plaintext it carried, and the records to send.

        Before the handshake has completed no plaintext comes out (`established` says when
        it has).

        :raises TlsError: the handshake failed, or a record did not decrypt; the records
            to send (an alert) are in `pending`
        """
        self._in.write(data)
        if not self.established and not self._handshake():
            return b"", self._out.read()
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.peer_closed = True
                break
            except ssl.SSLError as error:
                raise TlsError(_reason(error)) from None
            if not chunk:  # what SSLObject.read gives for close_notify
                self.peer_closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks), self._out.read()

    def send(self, data: bytes) -> bytes:
        """Plaintext to send: the records that carry it.

        :raises TlsError: called before the handshake completed, or after a failure
        """
        try:
            self._tls.write(data)
        except ssl.SSLError as error:
            raise TlsError(_reason(error)) from None
        return self._out.read()

    def close(self) -> bytes:
        """close_notify, to send before closing the connection."""
        # A peer that has not answered close_notify yet, or a session that failed.
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()
        return self._out.read()

    def pending(self) -> bytes:
        """Records left to send (an alert after a failed handshake)."""
        return self._out.read()

    def _handshake(self) -> bool:
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as error:
            raise TlsError(_reason(error)) from None
        self.established = True
        return True


def _reason(error: ssl.SSLError) -> str:
    return (error.reason or str(error)).lower().replace("_", " ")
