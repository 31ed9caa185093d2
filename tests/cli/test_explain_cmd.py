"""``rdplic explain CLIENT``: the diagnoser's text and JSON, by machine name or HWID."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from admin_helpers import client, dump, issue, run

from rdplic.vocabulary import KEYS


def test_explain_by_name_and_hwid_prints_history_rules_and_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """By machine name or hardware id: the history with R27 and the next connection."""
    issue(tmp_path, "PC1", permanent=False)
    by_name = run(capsys, "explain", "PC1", "--state-dir", str(tmp_path))
    assert by_name.status == 0, by_name.err
    assert "issued license 1 [R27]" in by_name.out
    assert "next connection:" in by_name.out
    hwid = client("PC1").hwid.hex()
    by_hwid = run(capsys, "explain", hwid, "--state-dir", str(tmp_path))
    assert by_hwid.status == 0 and "issued license 1 [R27]" in by_hwid.out


def test_explain_json_uses_the_vocabulary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: licenses and history events in the vocabulary's keys, predictions with rule."""
    issue(tmp_path, "PC2", permanent=False)
    result = run(capsys, "explain", "PC2", "--json", "--state-dir", str(tmp_path))
    data = json.loads(result.out)
    (device,) = data["devices"]
    assert device["client_name"] == "PC2"
    lic = device["licenses"][0]
    assert {"license_id", "status", "hwid", "version", "issued", "expires"} <= set(lic)
    assert lic["issued"].endswith("Z")
    assert device["history"][0]["rule"] == "R27" and "time" in device["history"][0]
    assert {p["scenario"] for p in device["next"]} == {"presents-license", "new-license-request"}
    assert all(p["outcome"] for p in device["next"])
    assert {"time", "license_id", "client_name", "hwid"} <= set(KEYS)


def test_explain_bad_client_is_one_line_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty CLIENT: exit 2, one line on stderr, the store unchanged."""
    issue(tmp_path, "PC3")
    before = dump(tmp_path)
    result = run(capsys, "explain", "  ", "--state-dir", str(tmp_path))
    assert result.status == 2 and result.err.count("\n") == 1
    assert result.err.startswith("rdplic: error: CLIENT")
    assert dump(tmp_path) == before


def test_explain_json_keys_are_documented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every key of explain --json is in the vocabulary's KEYS or in views.OWN_KEYS."""
    from rdplic.licensing.views import OWN_KEYS

    issue(tmp_path, "PC4", permanent=False)
    data = json.loads(run(capsys, "explain", "PC4", "--json", "--state-dir", str(tmp_path)).out)
    unknown = json.loads(
        run(capsys, "explain", "NEVER", "--json", "--state-dir", str(tmp_path)).out
    )

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    found = keys(data) | keys(unknown)
    assert found - set(KEYS) - set(OWN_KEYS) == set()
