"""Several session hosts, one license server: the license server's identity in the store.

A Windows deployment runs several RD Session Hosts against one RD License Server: each
host has its own terminal server key and certificate, and the one license server certifies
them all and signs every CAL, so that a CAL issued through one host is accepted by every
other (R80-R83 on moving a license server: its identity goes with its database).

Here each ``rdplic serve`` state directory keeps its own identity (proprietary key,
terminal server key, its name); with a shared database (PostgreSQL) the license server's
identity lives in the database, in the setting `LICENSE_SERVER_SETTING`: the first host to
start publishes its own license server there, and every host certifies its terminal server
key with the license server found there (`join_deployment`).  An imported database
(``rdplic store import``) carries the setting too, so a SQLite store holding it is served
with that license server as well.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from rdplic.crypto import (
    CryptoError,
    LicenseServerIdentity,
    build_terminal_server_certificate,
    build_x509_chain,
    dump_private_key,
    load_private_key,
)
from rdplic.identity import ServerIdentity
from rdplic.licensing.store import LicenseStore, StoreError, StoreTransaction

__all__ = [
    "LICENSE_SERVER_SETTING",
    "join_deployment",
    "license_server_from_text",
    "license_server_text",
    "read_license_server",
]

LICENSE_SERVER_SETTING = "identity.license_server"
"""The shared license server's identity (JSON: names, PKCS#8 PEM key, DER certificate hex)."""


def license_server_text(server: LicenseServerIdentity) -> str:
    """The setting's value for ``server``."""
    return json.dumps(
        {
            "name": server.name,
            "scope": server.scope,
            "product_id": server.product_id,
            "private_key": dump_private_key(server.private_key).decode("ascii"),
            "certificate": server.certificate.hex(),
        },
        sort_keys=True,
    )


def license_server_from_text(text: str) -> LicenseServerIdentity:
    """The inverse of `license_server_text`.

    :raises StoreError: the stored value does not parse
    """
    try:
        data = json.loads(text)
        return LicenseServerIdentity(
            name=str(data["name"]),
            scope=str(data["scope"]),
            product_id=str(data["product_id"]),
            private_key=load_private_key(str(data["private_key"]).encode("ascii")),
            certificate=bytes.fromhex(str(data["certificate"])),
        )
    except (ValueError, KeyError, TypeError, CryptoError) as error:
        raise StoreError(f"stored license server identity is not usable: {error}") from None


def read_license_server(tx: StoreTransaction) -> LicenseServerIdentity | None:
    """The license server identity kept in the store, if any."""
    text = tx.get_setting(LICENSE_SERVER_SETTING)
    return None if text is None else license_server_from_text(text)


def join_deployment(
    identity: ServerIdentity, store: LicenseStore, *, publish: bool
) -> ServerIdentity:
    """This host's identity, certified by the license server kept in ``store``.

    With ``publish`` (a shared database), a store without a license server gets this
    state directory's (the first host becomes the deployment's license server).  Without
    one in the store the identity is returned unchanged.
    """
    with store.snapshot() as tx:
        shared = read_license_server(tx)
    if shared is None and publish:
        with store.transaction() as tx:
            shared = read_license_server(tx)  # another host may have published meanwhile
            if shared is None:
                tx.set_setting(LICENSE_SERVER_SETTING, license_server_text(identity.license_server))
                shared = identity.license_server
        store.commit_group()
    if shared is None or shared.certificate == identity.license_server.certificate:
        return identity
    # The terminal server's hardware id in its certificate: stable for this host's key,
    # so the certificate is the same at every start.
    hwid = b"\x02\x00\x00\x00" + hashlib.sha256(identity.terminal_server_certificate).digest()[:16]
    try:
        certificate = build_terminal_server_certificate(
            shared,
            identity.terminal_server_key.public,
            server_name=identity.terminal_server_name,
            hwid=hwid,
            issued=identity.created,
        )
    except CryptoError as error:
        raise StoreError(
            f"cannot certify this host by the shared license server: {error}"
        ) from None
    return dataclasses.replace(
        identity,
        license_server=shared,
        terminal_server_certificate=certificate,
        x509_chain=build_x509_chain([shared.certificate, certificate]),
    )
