"""Every command's ``--json`` and the server's JSON log lines against the one vocabulary
(rdplic.vocabulary, README "JSON vocabulary"; issue 12).

A live ``rdplic serve --log-format json`` licenses two simulated clients (Standard RDP
Security and TLS); then every command that prints something runs with ``--json`` through the
real entry point, and each key it prints must be one of `KEYS` or one of its command's
`COMMAND_KEYS`, in the documented form (times RFC 3339 UTC, ids integers, flags booleans).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_process import ROOT, rdplic

from rdplic.licensing import HostConfig
from rdplic.licensing.report import REPORT_COLUMNS
from rdplic.net.logs import CONNECTION_KEYS, LINE_KEYS
from rdplic.vocabulary import COMMAND_KEYS, KEYS, Outcome

sys.path.insert(0, str(ROOT / "tests" / "net"))
from test_serve_process import Serve, client, run_client

from rdplic.app import build_client
from rdplic.core.client_store import MemoryLicenseStore

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TIMES = {"time", "issued", "expires", "installed", "revoked", "renewed", "removed", "now"}
IDS = {"license_id", "key_pack_id", "event_id", "connection_id"}
FLAGS = {"temporary"}
HEX = {"hwid"}


@dataclasses.dataclass
class Lab:
    state: Path
    log: Path
    blob: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A state directory with a key pack and two licensed clients, and the JSON log."""
    base = tmp_path_factory.mktemp("schema")
    state = base / "state"
    added = rdplic("keypack", "add", "--type", "per-device", "--count", "10",
                   "--state-dir", str(state))  # fmt: skip
    assert added.returncode == 0, added.stderr
    serve = Serve(state, "--log-format", "json")
    try:
        run_client(serve.port, client(0, "SCHEMA1"))
        for name in ("SCHEMA2", "SCHEMA3"):
            device = MemoryLicenseStore()  # the device keeps its license between connections
            for _ in range(2):  # the second time it presents its temporary license: upgraded
                core = build_client(machine_name=name, store=device, security="tls")
                run_client(serve.port, core)
    finally:
        assert serve.stop() == 0
    yield Lab(state, serve.log_path, base / "license.cal")


def _check_value(key: str, value: Any, where: str) -> None:
    if key in TIMES:
        assert value is None or RFC3339.match(value), (where, key, value)
    elif key in IDS:
        assert value is None or type(value) is int, (where, key, value)
    elif key in FLAGS:
        assert value is None or type(value) is bool, (where, key, value)
    elif key in HEX:
        assert value is None or re.fullmatch(r"[0-9a-f]*", value), (where, key, value)
    elif key == "outcome":
        assert value in {str(o) for o in Outcome}, (where, value)


def _walk(value: Any, allowed: set[str], where: str, skip: frozenset[str] = frozenset()) -> None:
    """Every key of every object in ``value`` is allowed and in its form."""
    if isinstance(value, list):
        for item in value:
            _walk(item, allowed, where, skip)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert key in allowed, f"{where}: key {key!r} is not in the vocabulary"
            _check_value(key, item, where)
            if key not in skip:
                _walk(item, allowed, where, skip)


COMMANDS: list[tuple[str, list[str]]] = [
    ("keypack", ["keypack", "list"]),
    ("keypack", ["keypack", "add", "--type", "per-user", "--count", "1"]),
    ("license", ["license", "list"]),
    ("license", ["license", "show", "{temporary}", "--blob", "{blob}"]),
    ("license inspect", ["license", "inspect", "{blob}", "--validate"]),
    ("license", ["license", "validate", "{temporary}"]),
    ("license", ["license", "revoke", "{active}"]),
    ("history", ["history"]),
    ("history", ["history", "SCHEMA2"]),
    ("config", ["config", "show"]),
    ("config", ["config", "set", "grace_period_days", "30"]),
    ("clock", ["clock", "show"]),
    ("clock", ["clock", "advance", "1h"]),
    ("clock", ["clock", "reset"]),
    ("keys", ["keys", "show"]),
    ("keys", ["keys", "derive", "--client-random", "00" * 32, "--server-random", "11" * 32,
              "--premaster", "22" * 48]),
    ("keypack", ["keypack", "remove", "{user_pack}"]),
    ("pdu encode", ["pdu", "encode", "{pdu_json}"]),
    ("license", ["license", "transfer", "{other_active}", "--to", "NEWPC"]),
    ("explain", ["explain", "SCHEMA1"]),
    ("explain", ["explain", "NEVER-SEEN"]),
]  # fmt: skip


def test_every_command_speaks_the_vocabulary(lab: Lab) -> None:
    """Each command's --json: every key in KEYS or its COMMAND_KEYS, values in their form."""
    settings = {field.name for field in dataclasses.fields(HostConfig)}
    listed = json.loads(rdplic("license", "list", "--json", "--state-dir", str(lab.state)).stdout)
    active = [str(lic["license_id"]) for lic in listed if lic["status"] == "active"]
    names = {
        "blob": str(lab.blob),
        "temporary": next(str(lic["license_id"]) for lic in listed if lic["temporary"]),
        "active": active[0],
        "other_active": active[1],
        "pdu_json": str(lab.state.parent / "pdu.json"),
    }
    decoded = rdplic("pdu", "decode", "--sample").stdout
    Path(names["pdu_json"]).write_text(decoded)
    for group, argv in COMMANDS:
        if "{user_pack}" in argv:
            packs = rdplic("keypack", "list", "--json", "--state-dir", str(lab.state)).stdout
            user = [p for p in json.loads(packs) if p["cal_type"] == "per-user"]
            names["user_pack"] = str(user[0]["key_pack_id"])
        argv = [arg.format(**names) for arg in argv]
        stateless = argv[:2] in (["keys", "derive"], ["pdu", "encode"])  # no --state-dir
        state = [] if stateless else ["--state-dir", str(lab.state)]
        result = rdplic(*argv, "--json", *state)
        where = "rdplic " + " ".join(argv[:2])
        assert result.returncode == 0, (where, result.stderr)
        value = json.loads(result.stdout)
        allowed = set(KEYS) | set(COMMAND_KEYS[group])
        if group == "license":  # show's history and transfer's key pack, as history and
            allowed |= set(COMMAND_KEYS["history"]) | set(COMMAND_KEYS["keypack"])  # keypack
        if group == "config":
            allowed |= settings
        if group == "explain":  # licenses, history events, as license and history print
            allowed |= set(COMMAND_KEYS["license"]) | set(COMMAND_KEYS["history"])
            allowed |= set(COMMAND_KEYS["keypack"])
        _walk(value, allowed, where)


def test_report_json_keeps_the_windows_columns(lab: Lab) -> None:
    """report --json: its own keys at the top, Windows' column names in the rows (R76, R77)."""
    data = json.loads(rdplic("report", "--json", "--state-dir", str(lab.state)).stdout)
    assert set(data) <= set(COMMAND_KEYS["report"])
    assert RFC3339.match(data["generated"])
    for part, kind in (("summary", "summary"), ("per_device", "per-device"),
                       ("per_user", "per-user")):  # fmt: skip
        for row in data[part]:
            assert set(row) <= set(REPORT_COLUMNS[kind]), (part, row)
    assert data["per_device"], "the licensed clients are in the per-device report"


def test_license_inspect_and_list_agree(lab: Lab) -> None:
    """The same license read from the store and from its blob: the same keys, same values."""
    listed = json.loads(rdplic("license", "show", "1", "--json", "--blob", str(lab.blob),
                               "--state-dir", str(lab.state)).stdout)  # fmt: skip
    inspected = json.loads(rdplic("license", "inspect", str(lab.blob), "--json").stdout)
    for key in ("client_name", "user_name", "hwid", "temporary", "version", "expires"):
        assert listed[key] == inspected[key], key


def test_log_lines_are_json_lines(lab: Lab) -> None:
    """--log-format json: one JSON object per line (no 0x1E, no Twisted internals), the same
    keys on every line, the connection line with all of CONNECTION_KEYS."""
    text = lab.log.read_text()
    assert "\x1e" not in text and "log_flattened" not in text and "__class_uuid__" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines and all(list(line)[:4] == list(LINE_KEYS) for line in lines)
    assert set(LINE_KEYS) <= set(KEYS)
    for line in lines:
        assert set(line) <= {*LINE_KEYS, *CONNECTION_KEYS, "traceback"}, line
        assert line["level"] in ("debug", "info", "warn", "error", "critical")
        for key, value in line.items():
            assert key in KEYS
            _check_value(key, value, "log")
    connections = [line for line in lines if "outcome" in line]
    assert [c["outcome"] for c in connections] == ["new_license", *["new_license", "upgraded"] * 2]
    for line in connections:
        assert list(line)[4:] == list(CONNECTION_KEYS)
        assert isinstance(line["duration_seconds"], float)
        assert line["security"] in ("rdp", "tls") and line["peer"].startswith("127.0.0.1:")
    first, _, third, *_ = connections
    assert first["client_name"] == "SCHEMA1" and first["temporary"] is True
    assert third["temporary"] is False and type(third["license_id"]) is int
    # Twisted's own start and stop lines are debug: not at the default level.
    assert not any("RdpServerFactory" in line["message"] for line in lines)
    assert not any("Port" in line["message"] and "Closed" in line["message"] for line in lines)


def test_readme_documents_the_vocabulary() -> None:
    """README's "JSON vocabulary" section lists every key of KEYS and COMMAND_KEYS, once."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## JSON vocabulary", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    assert sorted(set(KEYS)) == sorted(key for key in set(rows) if key in KEYS)
    shared = [key for key in rows if key in KEYS]
    assert len(shared) == len(set(shared)), "a shared key is documented more than once"
    for group, keys in COMMAND_KEYS.items():
        assert f"`rdplic {group}`" in section, group
        for key in keys:
            if key != "*":
                assert f"`{key}`" in section, (group, key)
    for outcome in Outcome:
        assert f"`{outcome}`" in section, outcome
