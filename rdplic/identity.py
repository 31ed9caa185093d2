"""The server's cryptographic identity, created once and kept in the state directory.

A Windows terminal server that runs its own license server has three keys:

* the key of its proprietary certificate (MS-RDPBCGR 2.2.1.4.3.1.1), sent in
  the Server Security Data and used for Standard RDP Security; modern Windows
  sends a 2048-bit key (the size is an option: 512 like Windows Server 2003,
  1024 or 2048);
* the license server's key and self-signed certificate, which sign every
  license it issues (an unactivated Windows license server is its own root);
* the terminal server's key and the certificate the license server issued
  it, sent with the license-server certificate as the X.509 chain of the
  Server License Request (MS-RDPELE 4.1).

They are created on first start and reused on every later start, so that
licenses issued earlier still validate.  Files live in ``<state dir>/identity``
(mode 0700): private keys as PKCS#8 PEM with mode 0600, certificates as DER,
names in ``identity.json``; every file is written atomically (temporary file,
fsync, rename) and ``identity.json`` is written last, so an interrupted first
start simply starts over.  A lock file serialises two processes starting at
once on the same directory.

This module does the file I/O and reads the clock once, at creation;
`rdplic.crypto` stays pure.
"""

from __future__ import annotations

import fcntl
import json
import os
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rdplic.crypto import (
    CryptoError,
    LicenseServerIdentity,
    RsaPrivateKey,
    build_license_server_certificate,
    build_proprietary_certificate,
    build_terminal_server_certificate,
    build_x509_chain,
    dump_private_key,
    generate_rsa_key,
    load_private_key,
)
from rdplic.crypto.x509 import parse_certificate
from rdplic.errors import RdplicError

__all__ = [
    "DEFAULT_KEY_BITS",
    "DEFAULT_SCOPE",
    "IdentityError",
    "ServerIdentity",
    "identity_dir",
]

DEFAULT_KEY_BITS = 2048
"""Modern Windows sends 2048-bit keys (docs/protocol.md 3.9); 512 is Windows Server 2003's size."""
DEFAULT_SCOPE = "WORKGROUP"
_DIR = "identity"
_META = "identity.json"
_PROPRIETARY_KEY = "proprietary-key.pem"
_LS_KEY = "license-server-key.pem"
_LS_CERT = "license-server.der"
_TS_KEY = "terminal-server-key.pem"
_TS_CERT = "terminal-server.der"
_LOCK = ".lock"
_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644
_FORMAT_VERSION = 1

RandomBytes = Callable[[int], bytes]


class IdentityError(RdplicError):
    """The state directory's identity is missing, unreadable or inconsistent."""


def identity_dir(state_dir: Path) -> Path:
    """Where the identity files of ``state_dir`` live."""
    return Path(state_dir) / _DIR


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """Keys and certificates of this server (see the module docstring)."""

    state_dir: Path
    proprietary_key: RsaPrivateKey
    proprietary_certificate: bytes
    """SERVER_CERTIFICATE bytes (proprietary, signed with the TS signing key)."""
    license_server: LicenseServerIdentity
    terminal_server_name: str
    terminal_server_key: RsaPrivateKey
    terminal_server_certificate: bytes
    """DER certificate of the terminal server, issued by the license server."""
    x509_chain: bytes
    """SERVER_CERTIFICATE bytes (CERT_CHAIN_VERSION_2): license server, then terminal server."""
    created: datetime

    @classmethod
    def load_or_create(
        cls,
        state_dir: Path,
        *,
        proprietary_key_bits: int = DEFAULT_KEY_BITS,
        license_server_name: str | None = None,
        scope: str | None = None,
        random_bytes: RandomBytes = os.urandom,
        now: datetime | None = None,
        license_server_key_bits: int = DEFAULT_KEY_BITS,
        terminal_server_key_bits: int = DEFAULT_KEY_BITS,
    ) -> ServerIdentity:
        """The identity kept in ``state_dir``, created there on first use.

        ``license_server_name`` defaults to a Windows-like ``WIN-XXXXXXXXXXX``
        drawn from ``random_bytes``, ``scope`` to "WORKGROUP".  Once created,
        names and license-server key stay (licenses already issued depend on
        them): asking for another name or scope raises `IdentityError`.  The
        proprietary key is not tied to any license, so a different
        ``proprietary_key_bits`` replaces it.  ``now`` (default: the clock)
        dates the certificates made at creation.
        """
        directory = identity_dir(state_dir)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(directory):
            if (directory / _META).exists():
                identity = cls._load(Path(state_dir))
                identity._check_names(license_server_name, scope)
                if identity.proprietary_key.bits != proprietary_key_bits:
                    key = _generate(proprietary_key_bits, random_bytes)
                    _write(directory / _PROPRIETARY_KEY, dump_private_key(key), _PRIVATE_MODE)
                    identity = cls._load(Path(state_dir))
                return identity
            cls._create(
                directory,
                proprietary_key_bits=proprietary_key_bits,
                license_server_name=license_server_name,
                scope=scope or DEFAULT_SCOPE,
                random_bytes=random_bytes,
                now=now if now is not None else datetime.now(UTC),
                license_server_key_bits=license_server_key_bits,
                terminal_server_key_bits=terminal_server_key_bits,
            )
            return cls._load(Path(state_dir))

    @classmethod
    def load(cls, state_dir: Path) -> ServerIdentity:
        """The identity already kept in ``state_dir``; `IdentityError` if there is none."""
        if not (identity_dir(state_dir) / _META).exists():
            raise IdentityError(f"no server identity in {state_dir} (start the server once)")
        return cls._load(Path(state_dir))

    def _check_names(self, name: str | None, scope: str | None) -> None:
        if name is not None and name != self.license_server.name:
            raise IdentityError(
                f"{self.state_dir} holds license server {self.license_server.name!r}, not "
                f"{name!r}; its licenses depend on that name (use another state directory)"
            )
        if scope is not None and scope != self.license_server.scope:
            raise IdentityError(
                f"{self.state_dir} holds license server scope {self.license_server.scope!r}, "
                f"not {scope!r} (use another state directory)"
            )

    @classmethod
    def _create(
        cls,
        directory: Path,
        *,
        proprietary_key_bits: int,
        license_server_name: str | None,
        scope: str,
        random_bytes: RandomBytes,
        now: datetime,
        license_server_key_bits: int,
        terminal_server_key_bits: int,
    ) -> None:
        name = license_server_name or _windows_computer_name(random_bytes)
        product_id = _windows_product_id(random_bytes)
        proprietary = _generate(proprietary_key_bits, random_bytes)
        ls_key = _generate(license_server_key_bits, random_bytes)
        ts_key = _generate(terminal_server_key_bits, random_bytes)
        try:
            ls_cert = build_license_server_certificate(ls_key, name=name, scope=scope, created=now)
            license_server = LicenseServerIdentity(
                name=name,
                scope=scope,
                product_id=product_id,
                private_key=ls_key,
                certificate=ls_cert,
            )
            ts_cert = build_terminal_server_certificate(
                license_server,
                ts_key.public,
                server_name=name,
                hwid=b"\x02\x00\x00\x00" + random_bytes(16),
                issued=now,
            )
        except CryptoError as error:
            raise IdentityError(f"cannot create the server identity: {error}") from None
        _write(directory / _PROPRIETARY_KEY, dump_private_key(proprietary), _PRIVATE_MODE)
        _write(directory / _LS_KEY, dump_private_key(ls_key), _PRIVATE_MODE)
        _write(directory / _TS_KEY, dump_private_key(ts_key), _PRIVATE_MODE)
        _write(directory / _LS_CERT, ls_cert, _PUBLIC_MODE)
        _write(directory / _TS_CERT, ts_cert, _PUBLIC_MODE)
        meta = {
            "format": _FORMAT_VERSION,
            "license_server_name": name,
            "scope": scope,
            "product_id": product_id,
            "terminal_server_name": name,
            "created": now.astimezone(UTC).isoformat(),
        }
        _write(directory / _META, (json.dumps(meta, indent=2) + "\n").encode(), _PUBLIC_MODE)

    @classmethod
    def _load(cls, state_dir: Path) -> ServerIdentity:
        directory = identity_dir(state_dir)
        try:
            meta = json.loads((directory / _META).read_text(encoding="utf-8"))
            name = str(meta["license_server_name"])
            scope = str(meta["scope"])
            product_id = str(meta["product_id"])
            ts_name = str(meta["terminal_server_name"])
            created = datetime.fromisoformat(str(meta["created"]))
            proprietary = _read_key(directory / _PROPRIETARY_KEY)
            ls_key = _read_key(directory / _LS_KEY)
            ts_key = _read_key(directory / _TS_KEY)
            ls_cert = (directory / _LS_CERT).read_bytes()
            ts_cert = (directory / _TS_CERT).read_bytes()
        except (OSError, ValueError, KeyError, TypeError, CryptoError) as error:
            raise IdentityError(f"unreadable server identity in {directory}: {error}") from None
        try:
            ls_parsed = parse_certificate(ls_cert)
            ts_parsed = parse_certificate(ts_cert)
        except CryptoError as error:
            raise IdentityError(f"unreadable certificate in {directory}: {error}") from None
        if ls_parsed.public_key != ls_key.public or ts_parsed.public_key != ts_key.public:
            raise IdentityError(f"certificates in {directory} do not match their keys")
        if ts_parsed.issuer != ls_parsed.subject:
            raise IdentityError(f"terminal-server certificate in {directory} has another issuer")
        license_server = LicenseServerIdentity(
            name=name, scope=scope, product_id=product_id, private_key=ls_key, certificate=ls_cert
        )
        return cls(
            state_dir=state_dir,
            proprietary_key=proprietary,
            proprietary_certificate=build_proprietary_certificate(proprietary.public),
            license_server=license_server,
            terminal_server_name=ts_name,
            terminal_server_key=ts_key,
            terminal_server_certificate=ts_cert,
            x509_chain=build_x509_chain([ls_cert, ts_cert]),
            created=created,
        )


def _generate(bits: int, random_bytes: RandomBytes) -> RsaPrivateKey:
    try:
        return generate_rsa_key(bits, random_bytes)
    except CryptoError as error:
        raise IdentityError(f"cannot generate a {bits}-bit key: {error}") from None


def _read_key(path: Path) -> RsaPrivateKey:
    if path.stat().st_mode & 0o077:
        os.chmod(path, _PRIVATE_MODE)  # a private key is for this user only
    return load_private_key(path.read_bytes())


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically with permissions ``mode``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT, _PRIVATE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _random_text(random_bytes: RandomBytes, alphabet: str, length: int) -> str:
    raw = random_bytes(length)
    return "".join(alphabet[b % len(alphabet)] for b in raw)


def _windows_computer_name(random_bytes: RandomBytes) -> str:
    """A default Windows computer name: "WIN-" and 11 upper-case letters or digits."""
    return "WIN-" + _random_text(random_bytes, string.ascii_uppercase + string.digits, 11)


def _windows_product_id(random_bytes: RandomBytes) -> str:
    """A product id shaped like a Windows Server one ("00429-00000-34972-AT353")."""
    digits = _random_text(random_bytes, string.digits, 18)
    return f"{digits[:5]}-{digits[5:10]}-{digits[10:15]}-AT{digits[15:]}"
