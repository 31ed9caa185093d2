"""One JSON vocabulary for every command's ``--json``, the JSON log lines and the web API.

Scripts read rdplic's output: the same thing must have the same key, in the same form,
wherever it appears (``rdplic license list``, ``rdplic history``, ``rdplic client``,
``rdplic load``, the ``--log-format json`` connection line). This module is that contract;
README.md ("JSON vocabulary") documents it once, and tests/cli check every command's
``--json`` output and the log's JSON lines against :data:`KEYS`.

Forms:

- times are RFC 3339 UTC to the second with a ``Z`` (:func:`rfc3339`); ``null`` when absent;
- durations are numbers of seconds, in keys ending ``_seconds``;
- ids (``license_id``, ``key_pack_id``, ``event_id``, ``connection_id``) are integers;
- byte strings (``hwid``, ``serial``) are lowercase hex without separators;
- flags are JSON booleans; enumerations are lowercase words joined by ``_`` or ``-`` as
  listed in :data:`KEYS`.

The Windows names of the report's columns (``sIssuedToComputer``, ``IssueDate``: R77) are
kept in ``rdplic report``, which mirrors Win32_TSLicenseReport, and are documented there.
Keys only one command prints are in :data:`COMMAND_KEYS`, under that command.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

__all__ = ["COMMAND_KEYS", "KEYS", "Outcome", "parse_rfc3339", "rfc3339"]


def rfc3339(moment: datetime | None) -> str | None:
    """A time in the vocabulary's one form (``2026-12-05T05:19:19Z``), ``None`` when absent.

    Naive datetimes are taken as UTC (the store keeps UTC throughout)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """The inverse of :func:`rfc3339` (any RFC 3339 offset accepted), as an aware UTC time."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Outcome(enum.StrEnum):
    """How one connection's licensing ended: the server's log line, ``rdplic client``,
    ``rdplic load`` and the web page all use these words."""

    NEW_LICENSE = "new_license"
    """A New License was issued (temporary or permanent) ([MS-RDPELE] 2.2.2.7)."""
    UPGRADED = "upgraded"
    """An Upgrade License replaced the presented one ([MS-RDPELE] 2.2.2.6)."""
    REISSUED = "reissued"
    """The presented license came back unchanged in an Upgrade License (R40 resend)."""
    VALID_CLIENT = "valid_client"
    """STATUS_VALID_CLIENT: nothing issued ([MS-RDPELE] 2.2.2.8, R1, R4)."""
    REFUSED = "refused"
    """A licensing error other than STATUS_VALID_CLIENT (``error_code`` says which)."""
    PROTOCOL_ERROR = "protocol_error"
    """The peer broke the protocol (a PDU that does not decode or comes out of order)."""
    TLS_FAILED = "tls_failed"
    """The TLS handshake did not complete."""
    CONNECTION_FAILED = "connection_failed"
    """No TCP connection, or it was reset (client side)."""
    TIMEOUT = "timeout"
    """The connection sequence did not finish in the time allowed."""
    ENDED = "ended"
    """The peer closed before licensing finished, without an error."""
    INTERNAL_ERROR = "internal_error"
    """rdplic itself failed (a bug: the log line carries the error)."""

    @property
    def licensed(self) -> bool:
        """The client may go on with the session (new, upgraded, reissued or valid client)."""
        return self in _LICENSED


_LICENSED = frozenset(
    {Outcome.NEW_LICENSE, Outcome.UPGRADED, Outcome.REISSUED, Outcome.VALID_CLIENT}
)


KEYS: dict[str, str] = {
    # -- times and durations
    "time": "when a log line or history event happened (RFC 3339 UTC)",
    "issued": "when a license was issued (RFC 3339 UTC)",
    "expires": "when a license or key pack expires (RFC 3339 UTC, null: never)",
    "installed": "when a key pack was installed (RFC 3339 UTC)",
    "revoked": "when a license was revoked (RFC 3339 UTC, null: not revoked)",
    "renewed": "when a license was last renewed (RFC 3339 UTC, null: never)",
    "removed": "when a key pack was removed (RFC 3339 UTC, null: installed)",
    "now": "the server clock (RFC 3339 UTC)",
    "duration_seconds": "how long something took, in seconds (a number)",
    "offset_seconds": "the server clock's offset from real time, in seconds",
    # -- ids
    "license_id": "a license's id in the store (integer)",
    "key_pack_id": "a key pack's id in the store (integer)",
    "event_id": "a history event's id (integer)",
    "connection_id": "a connection's number within one server process or capture (integer)",
    # -- the client
    "client_name": "the client machine name (Client Info / NEW_LICENSE_REQUEST ClientMachineName)",
    "user_name": "the user name the client sent (ClientUserName)",
    "hwid": "the client's hardware id, 20 bytes as hex (CLIENT_HARDWARE_ID, [MS-RDPELE] 2.2.2.3.1)",
    "platform_id": "the client's PlatformId ([MS-RDPELE] 2.2.2.2), an integer",
    "peer": "the remote address, host:port",
    # -- licenses and key packs
    "status": "a license's status: temporary, active, upgraded, revoked, expired",
    "temporary": "the license is a temporary (90-day) license (boolean)",
    "cal_type": "per-device or per-user",
    "version": "the CAL's product version, as 'major.minor' (for example '10.0')",
    "product_version": "the product version's title (for example 'Windows Server 2019')",
    "serial": "a license's serial number as hex",
    "total": "CALs in a key pack (integer, null: unlimited)",
    "issued_count": "CALs of a key pack issued and not returned (integer)",
    "available": "CALs of a key pack left to issue (integer, null: unlimited)",
    # -- connections
    "security": "the security layer: rdp, tls or hybrid",
    "encryption": "Standard RDP Security's encryption level bits: 40, 56 or 128, null under TLS",
    "outcome": "how licensing ended: one of rdplic.vocabulary.Outcome",
    "error_code": "a licensing error's dwErrorCode name, for example ERR_NO_LICENSE",
    "state_transition": "a licensing error's dwStateTransition name, for example ST_TOTAL_ABORT",
    "error": "a one-line reason, empty when nothing went wrong",
    "level": "a log line's level: debug, info, warn, error, critical",
    "message": "a log line's text for people",
    "logger": "the part of rdplic that wrote a log line (rdplic.serve, rdplic.net.server...)",
    "traceback": "a log line's Python traceback, when rdplic itself failed",
}
"""Every key rdplic's JSON uses for a shared concept, with its meaning and form.

Commands may add keys of their own for things only they show; a key that names one of these
concepts must be spelt as here."""


COMMAND_KEYS: dict[str, dict[str, str]] = {
    "replay": {
        "files": "capture files read",
        "connections": "recorded connections replayed",
        "verdicts": "how many connections got each verdict",
        "updated": "--update rewrote captures, a boolean",
        "results": "one object per replayed connection and side",
        "file": "(in results) the capture file",
        "side": "(in results) the side replayed: server or client",
        "verdict": "(in results) identical, differs, partial, error, skipped, same-structure",
        "pdus": "(in results) PDUs the recorded side sent",
        "frame": "(in results) the frame of the first PDU that differs, null when none",
        "path": "(in results) the path of the first field that differs",
        "recorded": "(in results) that field's recorded value",
        "replayed": "(in results) that field's value now (or the live peer's)",
        "detail": "(in results) what else the replay says, in words",
        "structure": "(in results, partial only) the rest of the session compared by shape: "
        "verdict same-structure or differs, compared, frame, path, recorded, replayed, "
        "by_length (encrypted fields compared by length), detail",
        "compared": "(in structure) server PDUs compared by shape",
        "by_length": "(in structure) the encrypted fields compared by length, with their frame",
        "substituted": "(in results, --serve of another server's capture) what was sent "
        "otherwise than recorded: frame, path, recorded, sent, reason",
        "sent": "(in substituted) what was sent instead of the recorded value",
        "reason": "(in substituted) why, in words",
    },
    "pdu decode": {
        "direction": "(a capture's frames) client-to-server or server-to-client",
        "frame": "(a capture's frames) the frame number, as Wireshark numbers it",
        "layers": "(a capture's frames) the PDU's layers, as for a single PDU",
    },
    "serve --hostile": {
        "hostile": "the hostile-server line of one connection: hostile_profile, hostile_seed, "
        "hostile_connection (numbered from 0), mutations (what was done, one phrase each) and "
        "reaction (clean_disconnect, licensing_error, reset or timeout)",
    },
    "fuzz": {
        "target": "a fuzz target's name (rdplic fuzz --list)",
        "status": "libFuzzer's last status line (executions, coverage edges, exec/s)",
        "findings": "the files of the findings, minimised",
    },
    "keypack": {
        "product_version_id": "Win32_TSLicenseKeyPack ProductVersionID (R9), an integer",
        "key_pack_type": "retail, volume, concurrent, open, temporary or built-in (R9)",
        "program": "the licensing program: retail, open, select, enterprise-agreement... (R11)",
        "reissued": "CALs the Clearinghouse reissued (R17), a boolean",
        "agreement_number": "the agreement number of a volume program (R11), null for retail",
        "description": "free text shown in listings",
        "transferred_from": "the license a KB 315262 transfer came from (R54), null otherwise",
    },
    "license": {
        "validated": "a temporary license was validated by a logon (R28), a boolean",
        "upgraded_to": "the license that replaced an upgraded one (license_id), else null",
        "transferred": "the CAL was transferred away once (KB 315262, R54), a boolean",
        "history": "license show: the license's history events (as rdplic history prints)",
        "blob_size": "license show: bytes of the license blob the client holds, null per-user",
        "blob_sha256": "license show: SHA-256 of that blob as hex, null per-user",
        "license": "revoke, transfer: the license afterwards (as license list prints it)",
        "revokable_cals": "revoke: revocations still allowed now for that version (R50)",
        "next_revoke_allowed": "revoke: when the next revocation is allowed (RFC 3339 UTC, R50)",
        "reissued_key_pack": "transfer: the key pack it is reissued as (R54, as keypack prints it)",
    },
    "license inspect": {
        "product_id": "the license's product id (for example 'A02')",
        "adjusted_product_id": "the product id as the license server adjusted it",
        "company": "the license's company name",
        "license_flags": "the license's flags, an integer",
        "license_platform_id": "the platform id written in the license, an integer",
        "language_id": "the license's language id, an integer",
        "issuer": "the issuing license server: name, scope, product_id, common_name",
        "name": "(in issuer) the license server's name",
        "scope": "(in issuer) its scope",
        "common_name": "(in issuer) its certificate's common name",
        "certificate_count": "certificates in the license's chain",
        "validation": "with --validate or --issuer-certificate: status and reason",
        "reason": "(in validation) why, in words",
    },
    "history": {
        "event": "what happened: issued, upgraded, renewed, resent, revoked, refused...",
        "detail": "the event in words",
        "rule": "the rule of docs/license-server-behavior.md that decided it (R12), or null",
        "host": "the session host it came through, null for administration",
    },
    "report": {
        "generated": "when the report was made (RFC 3339 UTC)",
        "host": "the emulated host's release",
        "scope": "the license server's scope",
        "summary": "rows with Win32_TSLicenseReportSummaryEntry's column names (R77)",
        "per_device": "rows with Win32_TSLicenseReportPerDeviceEntry's column names (R77)",
        "per_user": "rows with Win32_TSLicenseReportPerUserEntry's column names (R76)",
        "per_user_usage": "the per-user CAL usage figures, with Licensing Manager's labels (R76)",
    },
    "config": {
        "derived": "values that follow from the settings: host, license_server, cal_version...",
        "host": "(in derived) the emulated host's release",
        "license_server": "(in derived) the license server's release",
        "cal_version": "(in derived) the CAL version the host asks for, 'major.minor'",
        "grace_days": "(in derived) the host's grace period in days",
        "grace_ends": "(in derived) when the grace period ends (RFC 3339 UTC), null: never",
        "in_grace": "(in derived) the host is in its grace period now, a boolean",
        "*": "every setting of rdplic config set, by its name, typed (booleans, numbers, null)",
    },
    "clock": {
        "offset": "the clock's offset in words (1d12h)",
        "real_time": "the real time without the offset (RFC 3339 UTC)",
    },
    "keys": {
        "state_dir": "the state directory",
        "created": "when the identity was created (RFC 3339 UTC)",
        "license_server": "name, scope, product_id, key_bits, certificate_sha256",
        "terminal_server": "name, key_bits, certificate_sha256",
        "proprietary_certificate": "key_bits and the certificate as hex",
        "name": "(in license_server, terminal_server) the server's name",
        "scope": "(in license_server) its scope",
        "product_id": "(in license_server) its product id",
        "key_bits": "an RSA key's size in bits",
        "certificate_sha256": "SHA-256 of a certificate's DER, as hex",
        "hex": "(in proprietary_certificate) the certificate's bytes as hex",
        "master_secret": "keys derive: the master secret (MS-RDPELE 5.1.2), hex",
        "session_key_blob": "keys derive: the session key blob, hex",
        "mac_salt_key": "keys derive: the MAC salt key, hex",
        "licensing_encryption_key": "keys derive: the licensing encryption key, hex",
    },
    "pdu encode": {
        "hex": "the encoded PDU as hex",
        "size": "its length in bytes",
    },
    "store": {
        "file": "export: the file written",
        "bytes": "export: its size in bytes",
        "key_packs": "import: key packs loaded",
        "licenses": "import: licenses loaded",
        "history": "import: history events loaded",
        "settings": "import: settings loaded",
    },
    "explain": {
        "client": "the machine name or hardware id asked about",
        "host_config": "the host configuration that matters (settings and grace period)",
        "windows_version": "(in host_config) the emulated Windows Server release",
        "licensing_mode": "(in host_config) per-device, per-user, ...",
        "license_server_version": "(in host_config) the license server's release",
        "license_server_reachable": "(in host_config) a boolean (R45, R46)",
        "license_server_activated": "(in host_config) a boolean (R13)",
        "grace_period_days": "(in host_config) the host's grace period in days (R43)",
        "grace_ends": "when the grace period ends (RFC 3339 UTC), null: not started",
        "in_grace": "(in host_config) the host is in its grace period now, a boolean",
        "builtin_pool": "(in host_config) a Windows 2000 host's built-in CALs apply (R19)",
        "builtin_platforms": "(in host_config) the PlatformId patterns served by them (R19)",
        "facts": "the host configuration that matters, in sentences",
        "devices": "one entry per hardware id the client had",
        "client_names": "(in devices) every machine name seen with that hardware id",
        "user_names": "(in devices) every user name seen with it",
        "platform": "(in devices) the client preset of its PlatformId, null if not one alone",
        "held_license_id": "(in devices) the license it holds: the last one the server sent it",
        "licenses": "(in devices) its licenses, as license list prints them",
        "history": "(in devices) its history events, as rdplic history prints them",
        "next": "(in devices) what its next connection gets: presenting its license, or not",
        "scenario": "(in next) presents-license or new-license-request",
        "presented_license_id": "(in next) the license presented, null for a new request",
        "reason": "(in next) why, in words",
        "remedies": "what would change a refusal, in sentences with the command to run",
        "notes": "(in devices) what else matters for the device (built-in platforms, R19)",
        "first_contact": "for a client never seen, what a new device gets (as next)",
    },
    "serve --web": {
        "settings": "GET /api/host: every setting of rdplic config set, by its name, as text",
        "points": "GET /api/chart: one entry per day with licenses issued",
        "temporary_count": "(in points) temporary licenses issued that day",
        "permanent_count": "(in points) permanent CALs issued that day",
        "active": "GET /api/connections: the connections in flight",
        "recent": "GET /api/connections: the last 50 connections, newest first",
    },
    "client": {
        "kind": "the outcome with its detail: new_license_temporary, refused:ERR_NO_LICENSE...",
        "licensed": "the connection may go on with a session (Outcome.licensed), a boolean",
        "platform": "the machine's preset (a key of rdplic.core.platforms.CLIENT_PLATFORMS)",
        "machine_dir": "the machine's directory (its MSLicensing-like store)",
        "presented_license": "the client presented a stored license (License Info), a boolean",
        "server": "what the server sent: rdp_version, certificate, scope, company_name...",
        "rdp_version": "(in server) SC_CORE's version as hex",
        "certificate": "(in server) the License Request's certificate: x509, proprietary, none",
        "scope": "(in server, licenses) the License Request's scope (pbScope)",
        "company_name": "(in server, licenses) its company name (pbCompanyName)",
        "product_id": "(in server, licenses) its product id (pbProductId, for example A02)",
        "dw_version": "(in server, licenses) its product version (dwVersion), an integer",
        "error_info": "(in server) the Set Error Info code received, an integer, else null",
        "licenses": "licenses: the machine's licenses, one object each",
        "index": "(in licenses) n of Store/LICENSE00n",
        "name": "(in licenses) LICENSE00n",
        "forgotten": "forget: how many licenses were deleted",
        "all": "forget: --all was given (the hardware id went too), a boolean",
        "imported": "import: the license stored (as licenses lists it)",
        "file": "export: the file written",
        "license": "export: the license written (as licenses lists it)",
    },
    "load": {
        "connections": "connections made",
        "licensed": "connections that may go on with a session",
        "failed": "connections that did not",
        "devices": "simulated devices the run made",
        "procs": "load processes whose reports were merged",
        "outcomes": "connections by rdplic.vocabulary.Outcome word",
        "kinds": "connections by kind (new_license_temporary, refused:ERR_NO_LICENSE...)",
        "handshakes_per_second": "licensed connections per second",
        "cpu_seconds": "the load's own CPU time, in seconds",
        "cpu_seconds_per_handshake": "the load's own CPU time per connection, in seconds",
        "latency_seconds": "p50, p90, p99, mean and max of connect-to-close, in seconds",
        "p50": "(in latency_seconds) the median",
        "p90": "(in latency_seconds) the 90th percentile",
        "p99": "(in latency_seconds) the 99th percentile",
        "mean": "(in latency_seconds) the mean",
        "max": "(in latency_seconds) the longest",
        "errors": "the first error text of each failing kind",
    },
}
"""Keys only one command prints, by command (``rdplic license inspect`` under its own name).
``rdplic pdu decode`` prints the PDU's own fields by their specification names instead, and
``rdplic report``'s rows keep Windows' column names (R76, R77); ``config``'s ``*`` stands for
its settings' names."""
