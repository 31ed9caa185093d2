"""The web console's JSON API and its safety checks, against a live ``rdplic serve --web``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest
from web_helpers import ROOT, WebServer, csrf_of, http, license_client, rdplic, rdplic_json

from rdplic.errors import UsageError
from rdplic.vocabulary import KEYS, Outcome
from rdplic.web import parse_web_address

PASSWORD = "Hunter2-web-secret"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """One server for the module, with one licensed client and a key pack."""
    state = tmp_path_factory.mktemp("web-api") / "state"
    rdplic(state, "keypack", "add", "--type", "per-device", "--count", "2")
    server = WebServer(state)
    license_client(server.port, "WEBPC1", password=PASSWORD)
    yield server
    assert server.stop() == 0


def _action_headers(server: WebServer) -> dict[str, str]:
    return {"Origin": server.base, "X-CSRF-Token": csrf_of(server.base)}


def test_api_lists_what_the_cli_lists(served: WebServer) -> None:
    """The API's licenses and key packs are what `license list` and `keypack list` say."""
    status, licenses = http(served.base + "/api/licenses")
    assert status == 200
    cli = rdplic_json(served.state_dir, "license", "list")
    fields = ("license_id", "status", "client_name", "user_name", "hwid", "version")
    assert [{k: x[k] for k in fields} for x in licenses] == [{k: x[k] for k in fields} for x in cli]
    assert licenses and licenses[0]["client_name"] == "WEBPC1"
    assert licenses[0]["issued"].endswith("Z")
    _, packs = http(served.base + "/api/key-packs")
    cli_packs = rdplic_json(served.state_dir, "keypack", "list")
    assert [(p["key_pack_id"], p["total"], p["available"]) for p in packs] == [
        (p["key_pack_id"], p["total"], p["available"]) for p in cli_packs
    ]
    for key in ("issued_count", "available", "total", "key_pack_id"):
        assert key in KEYS and key in packs[0]


def test_api_history_explain_connections_chart_host(served: WebServer) -> None:
    """History (with rules), explain, connections, chart and host answer in the vocabulary."""
    _, history = http(served.base + "/api/history?client=WEBPC1")
    assert [(e["event"], e["rule"]) for e in history] == [("issued", "R27")]
    _, explained = http(served.base + "/api/explain?client=WEBPC1")
    assert explained["devices"][0]["history"][0]["rule"] == "R27"
    _, connections = http(served.base + "/api/connections")
    recent = connections["recent"][0]
    assert recent["client_name"] == "WEBPC1" and recent["outcome"] == Outcome.NEW_LICENSE.value
    assert recent["license_id"] == history[0]["license_id"]
    _, chart = http(served.base + "/api/chart")
    assert chart["points"][-1]["temporary_count"] == 1
    _, host = http(served.base + "/api/host")
    assert host["offset_seconds"] == 0 and host["settings"]["windows_version"] == "2019"


def test_api_keys_are_documented(served: WebServer) -> None:
    """Every key the API answers with is in KEYS, views.OWN_KEYS or site.API_KEYS."""
    from rdplic.licensing.views import OWN_KEYS
    from rdplic.web.site import API_KEYS

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            inner = {k for key, v in value.items() if key != "settings" for k in keys(v)}
            return set(value) | inner
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    found: set[str] = set()
    for path in ("licenses", "key-packs", "history", "host", "connections", "chart"):
        found |= keys(http(f"{served.base}/api/{path}")[1])
    found |= keys(http(served.base + "/api/explain?client=WEBPC1")[1])
    assert found - set(KEYS) - set(OWN_KEYS) - set(API_KEYS) == set()


def test_api_shows_no_secret(served: WebServer) -> None:
    """No response carries the client's password, a license blob or a private key."""
    blob = rdplic(
        served.state_dir, "license", "show", "1", "--blob", str(served.state_dir.parent / "c.lic")
    )
    assert blob.returncode == 0
    cal = (served.state_dir.parent / "c.lic").read_bytes()
    keys = [p.read_text() for p in (served.state_dir / "identity").glob("*key*.pem")]
    texts = []
    for path in (
        "",
        "/api/licenses",
        "/api/key-packs",
        "/api/history",
        "/api/host",
        "/api/connections",
        "/api/chart",
        "/api/explain?client=WEBPC1",
    ):
        _, body = http(served.base + (path or "/"))
        texts.append(body if isinstance(body, str) else json.dumps(body))
    everything = "\n".join(texts)
    assert PASSWORD not in everything
    assert cal.hex() not in everything and cal.hex()[:64] not in everything
    assert "PRIVATE KEY" not in everything
    assert all(key.splitlines()[1] not in everything for key in keys)


def test_actions_go_through_administration_with_its_errors(served: WebServer) -> None:
    """Same-origin + CSRF installs a pack; a refused action gives the CLI's one-line error."""
    headers = _action_headers(served)
    status, pack = http(
        served.base + "/api/key-packs", {"cal_type": "per-device", "count": 3}, headers
    )
    assert status == 200 and pack["total"] == 3
    assert pack["key_pack_id"] in [
        p["key_pack_id"] for p in rdplic_json(served.state_dir, "keypack", "list")
    ]
    before = rdplic_json(served.state_dir, "license", "list")
    status, error = http(served.base + "/api/licenses/1/revoke", {}, headers)
    cli = rdplic(served.state_dir, "license", "revoke", "1", check=False)
    assert status == 400 and cli.returncode == 2
    assert cli.stderr.strip() == f"rdplic: error: {error['error']}"
    status, error = http(served.base + "/api/clock", {"advance": "-3d"}, headers)
    assert status == 400 and "is not like 91d" in error["error"]
    status, error = http(served.base + "/api/config", {"key": "nope", "value": "1"}, headers)
    assert status == 400 and "\n" not in error["error"]
    assert rdplic_json(served.state_dir, "license", "list") == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://evil.example"},
        {"X-CSRF-Token": "guess"},
        {"Origin": "http://evil.example", "X-CSRF-Token": "from-elsewhere"},
    ],
    ids=["nothing", "foreign-origin", "no-origin", "foreign-origin-and-token"],
)
def test_actions_without_same_origin_and_csrf_are_refused(
    served: WebServer, headers: dict[str, str]
) -> None:
    """A POST without the page's origin and CSRF token is refused 403, the store unchanged."""
    before = rdplic_json(served.state_dir, "keypack", "list")
    status, error = http(
        served.base + "/api/key-packs", {"cal_type": "per-device", "count": 1}, headers
    )
    assert status == 403 and error["error"]
    assert rdplic_json(served.state_dir, "keypack", "list") == before


def test_wrong_host_header_is_refused(served: WebServer) -> None:
    """A request naming another host (DNS rebinding) is refused even for reading."""
    host, port = served.web.split(":")
    conn = HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/licenses", headers={"Host": f"rebound.example:{port}"})
    response = conn.getresponse()
    assert response.status == 403
    conn.close()


def test_live_feed_reports_a_connection(served: WebServer) -> None:
    """GET /api/events streams a connection event when a client is licensed."""
    host, port = served.web.split(":")
    conn = HTTPConnection(host, int(port), timeout=20)
    conn.request("GET", "/api/events")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    license_client(served.port, "WEBPC2")
    seen = ""
    while "WEBPC2" not in seen or '"closed"' not in seen:
        line = response.fp.readline().decode()
        assert line, "feed ended"
        if line.startswith("data:") and "WEBPC2" in line:
            seen += line
    conn.close()


def test_token_mode(tmp_path: Path) -> None:
    """With a token, reading and acting need it; the /?token= cookie alone cannot act."""
    state = tmp_path / "state"
    token_file = tmp_path / "token"
    token_file.write_text("0123456789abcdef-token\n")
    server = WebServer(state, "--web-token-file", str(token_file))
    try:
        assert http(server.base + "/api/licenses")[0] == 401
        auth = {"Authorization": "Bearer 0123456789abcdef-token"}
        assert http(server.base + "/api/licenses", headers=auth)[0] == 200
        status, _ = http(
            server.base + "/api/key-packs", {"cal_type": "per-device", "count": 1}, auth
        )
        assert status == 200
        host, port = server.web.split(":")
        conn = HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/?token=0123456789abcdef-token")
        response = conn.getresponse()
        cookie = response.getheader("Set-Cookie", "")
        assert response.status == 303 and "HttpOnly" in cookie and "SameSite=strict" in cookie
        conn.close()
        cookie_header = {"Cookie": cookie.split(";")[0]}
        assert http(server.base + "/api/licenses", headers=cookie_header)[0] == 200
        refused, _ = http(
            server.base + "/api/key-packs", {"cal_type": "per-device", "count": 1}, cookie_header
        )
        assert refused == 403  # the cookie alone is ambient: an action also needs CSRF
        assert http(server.base + "/?token=wrong-token-wrong-token")[0] == 401
    finally:
        assert server.stop() == 0


def test_remote_listening_needs_the_flag_and_a_token(tmp_path: Path) -> None:
    """A non-loopback --web needs --web-allow-remote and a token; serve exits 2 in one line."""
    with pytest.raises(UsageError, match="not a loopback address"):
        parse_web_address("0.0.0.0:8089", allow_remote=False, token=None)
    with pytest.raises(UsageError, match="needs a token"):
        parse_web_address("0.0.0.0:8089", allow_remote=True, token=None)
    assert parse_web_address("[::1]:0", allow_remote=False, token=None).host == "::1"
    ok = parse_web_address("0.0.0.0:8089", allow_remote=True, token="x" * 16)
    assert (ok.host, ok.port, ok.allow_remote) == ("0.0.0.0", 8089, True)
    env = {k: v for k, v in os.environ.items() if k != "RDPLIC_WEB_TOKEN"}
    import subprocess

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rdplic.cli.main",
            "serve",
            "--state-dir",
            str(tmp_path),
            "--web",
            "0.0.0.0:8089",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--web-allow-remote" in result.stderr


def test_transfer_clock_and_config_actions(tmp_path: Path) -> None:
    """Config, transfer (KB 315262) and clock through the API: the CLI sees each change."""
    state = tmp_path / "state"
    rdplic(state, "keypack", "add", "--type", "per-device", "--count", "1")
    server = WebServer(state)
    try:
        headers = _action_headers(server)
        status, host = http(
            server.base + "/api/config", {"key": "first_license", "value": "permanent"}, headers
        )
        assert status == 200 and host["settings"]["first_license"] == "permanent"
        license_client(server.port, "MOVEME")
        (lic,) = rdplic_json(state, "license", "list")
        assert lic["status"] == "active"
        status, moved = http(
            server.base + f"/api/licenses/{lic['license_id']}/transfer", {"to": "NEWPC"}, headers
        )
        assert status == 200 and moved["license"]["status"] == "revoked"
        assert rdplic_json(state, "license", "list")[0]["transferred"] is True
        again, error = http(
            server.base + f"/api/licenses/{lic['license_id']}/transfer", {"to": "X"}, headers
        )
        cli = rdplic(state, "license", "transfer", str(lic["license_id"]), "--to", "X", check=False)
        assert again == 400 and cli.stderr.strip() == f"rdplic: error: {error['error']}"
        status, host = http(server.base + "/api/clock", {"advance": "2d"}, headers)
        assert status == 200 and host["offset_seconds"] == 2 * 86400
        assert rdplic_json(state, "clock", "show")["offset_seconds"] == 2 * 86400
        status, host = http(server.base + "/api/clock", {"reset": True}, headers)
        assert status == 200 and host["offset_seconds"] == 0
    finally:
        assert server.stop() == 0


def test_web_address_in_use_is_one_line(tmp_path: Path) -> None:
    """--web on a port already taken: `rdplic serve` exits 2 with one line naming it."""
    import socket
    import subprocess

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "rdplic.cli.main", "serve", "--port", "0",
             "--state-dir", str(tmp_path), "--web", f"127.0.0.1:{port}"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(f"rdplic: error: --web 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr
