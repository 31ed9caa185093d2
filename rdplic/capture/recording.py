"""What a connection's recording holds besides its bytes, and its JSON form.

The cores are deterministic (README "The licensing core"): a server connection's output is a
function of its configuration, the bytes it received (and how they were split), the clock
value of every call, the random bytes it drew and the license server's decisions.  A
`Recording` holds all of those except the received bytes, which are the capture's packets;
with the server's private keys (opt-in ``--capture-secrets``) it is enough to run the
session again byte for byte (`rdplic.capture.replay`) without the state directory.

It travels in the capture as one packet comment (``rdplic-connection {json}``) on the
server's FIN of the connection: pcapng's own comment option, which Wireshark shows and
editcap keeps, so one file is all a replay needs.

JSON form (version 1): times are ISO 8601 with microseconds (replay needs the exact clock
values, not the vocabulary's whole seconds), bytes are lowercase hex, enumerations by name.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from datetime import datetime
from typing import Any

from rdplic import __version__
from rdplic.core.connection_server import ServerConnectionConfig
from rdplic.core.decisions import (
    Decision,
    DecisionKind,
    HostLicensing,
    LicenseSummary,
    ProductInfo,
)
from rdplic.core.licensing_server import ServerConfig
from rdplic.crypto.rdp_security import EncryptionLevel
from rdplic.crypto.rsa import RsaPrivateKey, dump_private_key, load_private_key

__all__ = [
    "FORMAT",
    "Recording",
    "RecordingError",
    "decision_from_json",
    "decision_to_json",
]

FORMAT = 1


class RecordingError(ValueError):
    """A recording that this version of rdplic cannot read."""


def _time(moment: datetime) -> str:
    return moment.isoformat()


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@functools.lru_cache(maxsize=64)
def _load_key(pem: str) -> RsaPrivateKey:
    """Loading a PEM key costs OpenSSL's key check (tens of ms for 2048 bits); a directory of
    captures of one server holds the same few keys, loaded once."""
    return load_private_key(pem.encode())


def decision_to_json(decision: Decision) -> dict[str, Any]:
    """A `Decision` as JSON (everything the core puts on the wire from it)."""
    summary = decision.license
    return {
        "kind": decision.kind.value,
        "reason": decision.reason,
        "rule": decision.rule,
        "license": None
        if summary is None
        else {
            "license_id": summary.license_id,
            "temporary": summary.temporary,
            "expires_at": None if summary.expires_at is None else _time(summary.expires_at),
            "version": summary.version,
        },
        "blob": decision.blob.hex(),
        "error_code": int(decision.error_code),
        "state_transition": int(decision.state_transition),
        "error_info": decision.error_info,
    }


def decision_from_json(data: dict[str, Any]) -> Decision:
    """The inverse of `decision_to_json`."""
    summary = data.get("license")
    return Decision(
        kind=DecisionKind(data["kind"]),
        reason=data["reason"],
        rule=data.get("rule", ""),
        license=None
        if summary is None
        else LicenseSummary(
            license_id=summary["license_id"],
            temporary=summary["temporary"],
            expires_at=None
            if summary["expires_at"] is None
            else _parse_time(summary["expires_at"]),
            version=summary["version"],
        ),
        blob=bytes.fromhex(data.get("blob", "")),
        error_code=data["error_code"],
        state_transition=data["state_transition"],
        error_info=data.get("error_info"),
    )


def _host_to_json(host: HostLicensing) -> dict[str, Any]:
    product = host.product
    return {
        "dw_version": product.dw_version,
        "company_name": product.company_name,
        "product_id": product.product_id,
        "scopes": list(product.scopes),
        "licenses_clients": host.licenses_clients,
    }


def _host_from_json(data: dict[str, Any]) -> HostLicensing:
    return HostLicensing(
        ProductInfo(
            dw_version=data["dw_version"],
            company_name=data["company_name"],
            product_id=data["product_id"],
            scopes=tuple(data["scopes"]),
        ),
        licenses_clients=data["licenses_clients"],
    )


@dataclasses.dataclass(slots=True)
class Recording:
    """One server connection as `rdplic.capture.recorder` saw it (see the module docstring).

    :ivar inputs: every call made to the connection machine, in order: ``{"op": "data",
        "length": N, "now": ...}`` (the next N bytes the peer sent), ``{"op": "tls",
        "now": ...}``, ``{"op": "decide", "decision": {...}, "now": ...}``,
        ``{"op": "decision_failed", "reason": ..., "now": ...}``; and ``{"op": "altered",
        "produced": hex, "sent": hex}`` where the adapter sent other bytes than the machine
        produced; a client's also ``{"op": "start"}`` and ``{"op": "lost"}``
    :ivar random: the random bytes the machine drew, in order
    :ivar licensing: (user, machine, preamble version, host) when the licensing machine was
        made (after Client Info), else None
    :ivar hostile: ``rdplic serve --hostile``: {"profile", "seed", "connection"}, what
        replay needs to make the same mutations again (`rdplic.capture.hostile_replay`)
    :ivar secrets: with ``--capture-secrets``: PEM private keys ("proprietary_key",
        "licensing_key") and what the session derived from them ("session", see
        `rdplic.capture.decode.derive_secrets`)
    """

    connection_config: dict[str, Any]
    licensing_config: dict[str, Any]
    inputs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    random: bytearray = dataclasses.field(default_factory=bytearray)
    licensing: dict[str, Any] | None = None
    secrets: dict[str, Any] | None = None
    side: str = "server"
    version: str = __version__
    outcome: str = ""
    hostile: dict[str, Any] | None = None

    # -- building --------------------------------------------------------------------

    @classmethod
    def for_server(
        cls, connection: ServerConnectionConfig, licensing: ServerConfig, *, secrets: bool
    ) -> Recording:
        """An empty recording of a server connection with these settings."""
        connection_json = {
            "allow_rdp_security": connection.allow_rdp_security,
            "allow_tls": connection.allow_tls,
            "encryption_level": EncryptionLevel(connection.encryption_level).name,
            "rdp_version": int(connection.rdp_version),
            "demand_active": connection.demand_active,
            "end_error_info": int(connection.end_error_info),
            "max_frame_size": connection.max_frame_size,
            "proprietary_certificate": connection.proprietary_certificate.hex(),
        }
        licensing_json = {
            "certificate": licensing.certificate.hex(),
            "license_issuer": None
            if licensing.license_issuer is None
            else licensing.license_issuer.hex(),
            "platform_challenge": licensing.platform_challenge.hex(),
            "random_challenge_size": licensing.random_challenge_size,
            "connect_flags": licensing.connect_flags,
            "preamble_version": int(licensing.preamble_version),
            "idle_timeout": licensing.idle_timeout,
            "idle_timeout_alert": licensing.idle_timeout_alert,
            "max_restarts": licensing.max_restarts,
        }
        keys = None
        if secrets:
            keys = {
                "proprietary_key": dump_private_key(connection.proprietary_key).decode(),
                "licensing_key": dump_private_key(licensing.private_key).decode(),
            }
        return cls(connection_json, licensing_json, secrets=keys)

    @classmethod
    def for_client(cls, client: dict[str, Any], licenses: list[dict[str, Any]]) -> Recording:
        """An empty recording of a simulated client (`rdplic.app.build_client`'s arguments
        in ``client``, the licenses its store held at the start in ``licenses``)."""
        return cls({"client": client, "licenses": licenses}, {}, side="client")

    def start(self) -> None:
        self.inputs.append({"op": "start"})

    def lost(self) -> None:
        self.inputs.append({"op": "lost"})

    def data(self, length: int, now: datetime) -> None:
        self.inputs.append({"op": "data", "length": length, "now": _time(now)})

    def tls(self, now: datetime) -> None:
        self.inputs.append({"op": "tls", "now": _time(now)})

    def decide(self, decision: Decision, now: datetime) -> None:
        self.inputs.append(
            {"op": "decide", "decision": decision_to_json(decision), "now": _time(now)}
        )

    def decision_failed(self, reason: str, now: datetime) -> None:
        self.inputs.append({"op": "decision_failed", "reason": reason, "now": _time(now)})

    def altered(self, produced: bytes, sent: bytes) -> None:
        self.inputs.append({"op": "altered", "produced": produced.hex(), "sent": sent.hex()})

    def hostile_run(self, profile: str, seed: int, connection: int) -> None:
        """The connection was served by ``rdplic serve --hostile`` (profile, seed, number)."""
        self.hostile = {"profile": profile, "seed": seed, "connection": connection}

    # -- reading back ----------------------------------------------------------------

    def connection_settings(self, proprietary_key: RsaPrivateKey) -> ServerConnectionConfig:
        """The recorded connection settings, with ``proprietary_key``."""
        c = self.connection_config
        return ServerConnectionConfig(
            proprietary_key=proprietary_key,
            proprietary_certificate=bytes.fromhex(c["proprietary_certificate"]),
            allow_rdp_security=c["allow_rdp_security"],
            allow_tls=c["allow_tls"],
            encryption_level=EncryptionLevel[c["encryption_level"]],
            rdp_version=c["rdp_version"],
            demand_active=c["demand_active"],
            end_error_info=c["end_error_info"],
            max_frame_size=c["max_frame_size"],
        )

    def licensing_settings(self, private_key: RsaPrivateKey) -> ServerConfig:
        """The recorded licensing settings, with ``private_key``."""
        c = self.licensing_config
        issuer = c["license_issuer"]
        return ServerConfig(
            private_key=private_key,
            certificate=bytes.fromhex(c["certificate"]),
            license_issuer=None if issuer is None else bytes.fromhex(issuer),
            platform_challenge=bytes.fromhex(c["platform_challenge"]),
            random_challenge_size=c["random_challenge_size"],
            connect_flags=c["connect_flags"],
            preamble_version=c["preamble_version"],
            idle_timeout=c["idle_timeout"],
            idle_timeout_alert=c["idle_timeout_alert"],
            max_restarts=c["max_restarts"],
        )

    def host(self) -> HostLicensing | None:
        if self.licensing is None:
            return None
        return _host_from_json(self.licensing["host"])

    def private_key(self, name: str) -> RsaPrivateKey | None:
        """A recorded private key ("proprietary_key" or "licensing_key"), None without."""
        if not self.secrets or name not in self.secrets:
            return None
        return _load_key(self.secrets[name])

    @property
    def client(self) -> dict[str, Any]:
        """A client recording's `build_client` arguments."""
        return dict(self.connection_config["client"])

    @property
    def client_licenses(self) -> list[dict[str, Any]]:
        """A client recording's licenses at the start."""
        return list(self.connection_config["licenses"])

    @staticmethod
    def now(item: dict[str, Any]) -> datetime:
        return _parse_time(item["now"])

    @staticmethod
    def decision(item: dict[str, Any]) -> Decision:
        return decision_from_json(item["decision"])

    def licensing_made(self, user: str, machine: str, preamble: int, host: HostLicensing) -> None:
        self.licensing = {
            "user": user,
            "machine": machine,
            "preamble_version": preamble,
            "host": _host_to_json(host),
        }

    # -- JSON ------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "rdplic": self.version,
                "side": self.side,
                "outcome": self.outcome,
                "connection": self.connection_config,
                "licensing_config": self.licensing_config,
                "licensing": self.licensing,
                "random": bytes(self.random).hex(),
                "inputs": self.inputs,
                "secrets": self.secrets,
                **({} if self.hostile is None else {"hostile": self.hostile}),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Recording:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise RecordingError(f"recording is not JSON: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RecordingError(f"recording format {data.get('format')!r} is not {FORMAT}")
        return cls(
            connection_config=data["connection"],
            licensing_config=data["licensing_config"],
            inputs=data["inputs"],
            random=bytearray.fromhex(data["random"]),
            licensing=data["licensing"],
            secrets=data.get("secrets"),
            side=data.get("side", "server"),
            version=data.get("rdplic", ""),
            outcome=data.get("outcome", ""),
            hostile=data.get("hostile"),
        )
