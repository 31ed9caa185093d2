"""The license server's records as JSON, in the one vocabulary (rdplic.vocabulary).

``rdplic explain --json`` and the web page's API (rdplic.web) show key packs, licenses,
history events and explanations through these functions, so that a key means the same
thing wherever it appears.  Nothing here shows a secret: no license blob, no key, and the
records hold no password or premaster secret to begin with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rdplic.licensing.explain import Device, Explanation, Prediction
from rdplic.licensing.model import HistoryEvent, IssuedLicense, KeyPack
from rdplic.licensing.records import OUTSTANDING
from rdplic.vocabulary import COMMAND_KEYS, rfc3339

__all__ = [
    "OWN_KEYS",
    "event_view",
    "explanation_view",
    "key_pack_view",
    "license_view",
    "prediction_view",
]


OWN_KEYS: dict[str, str] = {
    **COMMAND_KEYS["keypack"],
    **COMMAND_KEYS["license"],
    **COMMAND_KEYS["history"],
    **COMMAND_KEYS["explain"],
}
"""The keys of this module's JSON that are not in rdplic.vocabulary.KEYS: those of the
commands that print the same records (keypack, license, history) and explain's own."""


def key_pack_view(pack: KeyPack) -> dict[str, Any]:
    """A key pack: total / issued_count / available (R8, R15)."""
    return {
        "key_pack_id": pack.key_pack_id,
        "version": str(pack.product_version),
        "product_version": pack.product_version.title,
        "cal_type": pack.cal_type.label,
        "key_pack_type": pack.key_pack_type.label,
        "program": pack.program.value,
        "total": pack.total,
        "issued_count": pack.issued,
        "available": pack.available,
        "installed": rfc3339(pack.installed),
        "expires": rfc3339(pack.expires),
        "removed": rfc3339(pack.removed),
        "reissued": pack.reissued,
        "description": pack.description,
    }


def license_view(lic: IssuedLicense, now: datetime | None = None) -> dict[str, Any]:
    """An issued license; with ``now``, an outstanding one past its expiry shows as expired
    (it is reclaimed at the next decision or listing, R25)."""
    status = lic.status
    if now is not None and status in OUTSTANDING and lic.expires <= now:
        status = type(status).EXPIRED
    return {
        "license_id": lic.license_id,
        "status": status.label,
        "temporary": lic.temporary,
        "cal_type": lic.cal_type.label,
        "client_name": lic.machine_name,
        "user_name": lic.user_name,
        "hwid": lic.hwid.hex(),
        "platform_id": lic.platform_id,
        "version": str(lic.product_version),
        "product_version": lic.product_version.title,
        "issued": rfc3339(lic.issued),
        "expires": rfc3339(lic.expires),
        "revoked": rfc3339(lic.revoked),
        "renewed": rfc3339(lic.renewed),
        "key_pack_id": lic.key_pack_id,
        "validated": lic.validated,
        "upgraded_to": lic.upgraded_to,
        "transferred": lic.transferred,
    }


def event_view(event: HistoryEvent) -> dict[str, Any]:
    """A history event with the rule that decided it (R24), as ``rdplic history --json``
    prints it."""
    return {
        "event_id": event.event_id,
        "time": rfc3339(event.at),
        "event": event.kind.value,
        "license_id": event.license_id,
        "key_pack_id": event.key_pack_id,
        "hwid": event.hwid.hex() or None,
        "client_name": event.machine_name,
        "user_name": event.user_name,
        "detail": event.detail,
        "rule": event.rule or None,
        "host": event.host or None,
    }


def prediction_view(prediction: Prediction) -> dict[str, Any]:
    return {
        "scenario": prediction.scenario,
        "presented_license_id": prediction.presented_license_id,
        "outcome": prediction.outcome.value,
        "rule": prediction.rule,
        "reason": prediction.reason,
        "license_id": prediction.license_id,
        "temporary": prediction.temporary,
        "error_code": prediction.error_code or None,
    }


def _device_view(device: Device, now: datetime) -> dict[str, Any]:
    return {
        "hwid": device.hwid.hex(),
        "client_name": device.machine_names[-1] if device.machine_names else "",
        "client_names": list(device.machine_names),
        "user_names": list(device.user_names),
        "platform_id": device.platform_id,
        "platform": device.platform or None,
        "held_license_id": None if device.held is None else device.held.license_id,
        "licenses": [license_view(lic, now) for lic in device.licenses],
        "history": [event_view(e) for e in device.history],
        "next": [prediction_view(p) for p in device.predictions],
        "remedies": list(device.remedies),
        "notes": list(device.notes),
    }


def explanation_view(explanation: Explanation) -> dict[str, Any]:
    """``rdplic explain --json`` and ``GET /api/explain``."""
    cfg = explanation.config
    return {
        "client": explanation.client,
        "now": rfc3339(explanation.now),
        "host_config": {
            "windows_version": cfg.windows_version,
            "licensing_mode": cfg.licensing_mode.value,
            "version": str(cfg.cal_version),
            "license_server_version": cfg.server_release.title,
            "license_server_reachable": cfg.license_server_reachable,
            "license_server_activated": cfg.license_server_activated,
            "grace_period_days": cfg.grace_days,
            "grace_ends": rfc3339(explanation.grace_ends),
            "in_grace": explanation.in_grace,
            "builtin_pool": explanation.builtin_pool,
            "builtin_platforms": [str(p) for p in cfg.builtin_platforms],
        },
        "facts": list(explanation.facts),
        "devices": [_device_view(d, explanation.now) for d in explanation.devices],
        "first_contact": None
        if explanation.first_contact is None
        else prediction_view(explanation.first_contact),
        "remedies": list(explanation.remedies),
    }
