"""``rdplic client`` end to end, through the real entry point, against ``rdplic serve``.

KB 315262 from both sides, a machine directory that talks to servers of two versions, and
the exit statuses; every run is a child process with a time-out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim_helpers import assert_vocabulary, rdplic, rdplic_json


def _connect(server: Any, machine: Path, *extra: str, status: int = 0) -> Any:
    result = rdplic_json(
        "client", f"127.0.0.1:{server.port}", "--machine-dir", str(machine), *extra, status=status
    )
    assert_vocabulary(result, "client")
    return result


def _licenses(server: Any) -> list[dict[str, Any]]:
    return rdplic_json("license", "list", "--state-dir", str(server.state_dir))  # type: ignore[no-any-return]


def test_kb315262_forget_then_forget_all_from_the_client_and_the_server(
    serve: Any, tmp_path: Path
) -> None:
    """KB 315262: forgotten licenses get the device's own CAL back; forget --all is a new device."""
    server = serve()
    rdplic(
        "keypack",
        "add",
        "--type",
        "per-device",
        "--count",
        "2",
        "--state-dir",
        str(server.state_dir),
    )
    machine = tmp_path / "pc1"
    first = _connect(server, machine, "--name", "PC1")
    assert (first["outcome"], first["temporary"]) == ("new_license", True)
    hwid = first["hwid"]
    cal = _connect(server, machine)
    assert (cal["outcome"], cal["temporary"], cal["hwid"]) == ("upgraded", False, hwid)
    held = rdplic_json("client", "licenses", "--machine-dir", str(machine))
    assert_vocabulary(held, "client")
    assert [entry["serial"] for entry in held["licenses"]] == [cal["serial"]]

    forgot = rdplic_json("client", "forget", "--machine-dir", str(machine))
    assert_vocabulary(forgot, "client")
    assert forgot["forgotten"] == 1 and (machine / "machine.json").exists()
    again = _connect(server, machine)
    assert not again["presented_license"]  # a New License Request...
    assert (again["outcome"], again["temporary"]) == ("new_license", False)
    assert (again["serial"], again["hwid"]) == (cal["serial"], hwid)  # ...answered with its CAL

    rdplic("client", "forget", "--all", "--machine-dir", str(machine))
    assert not machine.exists()
    fresh = _connect(server, machine, "--name", "PC1")
    assert (fresh["outcome"], fresh["temporary"]) == ("new_license", True)
    assert fresh["hwid"] != hwid

    licenses = _licenses(server)
    by_hwid = {(entry["hwid"], entry["status"]) for entry in licenses}
    assert (hwid, "active") in by_hwid  # the first CAL stays allocated to the old hwid
    assert (fresh["hwid"], "temporary") in by_hwid
    history = rdplic_json("history", "PC1", "--state-dir", str(server.state_dir))
    events = [(event["event"], event["hwid"]) for event in history]
    assert ("resent", hwid) in events
    assert events[-1] == ("issued", fresh["hwid"])


def test_one_machine_keeps_the_licenses_of_two_server_versions(serve: Any, tmp_path: Path) -> None:
    """MS-RDPELE 3.3.5.6: licenses indexed by version, so a 2008 R2 and a 2019 license coexist."""
    old = serve("--windows", "2008R2")
    new = serve("--windows", "2019")
    machine = tmp_path / "pc"
    first_old = _connect(old, machine)
    first_new = _connect(new, machine)
    assert first_old["outcome"] == first_new["outcome"] == "new_license"
    held = rdplic_json("client", "licenses", "--machine-dir", str(machine))["licenses"]
    assert sorted(entry["dw_version"] for entry in held) == [0x00060000, 0x000A0001]
    for server, issued in ((old, first_old), (new, first_new)):
        back = _connect(server, machine)
        assert back["presented_license"] and back["outcome"] == "reissued"
        assert back["serial"] == issued["serial"]  # each server got its own license back


def test_refused_client_exit_status_and_error_code(serve: Any, tmp_path: Path) -> None:
    """Exit status 3 and the licensing error received when the server refuses the client."""
    server = serve()
    machine = tmp_path / "late"
    _connect(server, machine)
    rdplic("clock", "advance", "91d", "--state-dir", str(server.state_dir))
    refused = _connect(server, machine, status=3)
    assert refused["outcome"] == "refused" and not refused["licensed"]
    # R30: an expired temporary license and no CAL: ERR_INVALID_CLIENT / ST_TOTAL_ABORT
    assert (refused["error_code"], refused["state_transition"]) == (
        "ERR_INVALID_CLIENT",
        "ST_TOTAL_ABORT",
    )
    text = rdplic("client", f"127.0.0.1:{server.port}", "--machine-dir", str(machine), status=3)
    assert "refused: ERR_INVALID_CLIENT / ST_TOTAL_ABORT" in text.stdout


def test_connection_failure_and_bad_input_exit_statuses(tmp_path: Path) -> None:
    """Exit 4 when nothing listens; 2 and one line for a bad port or hardware id."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failed = rdplic_json(
        "client", f"127.0.0.1:{port}", "--machine-dir", str(tmp_path / "m"), status=4
    )
    assert failed["outcome"] == "connection_failed"
    for bad in (["127.0.0.1:99999"], ["127.0.0.1", "--hwid", "abcd"], ["forget"]):
        result = rdplic("client", *bad, "--machine-dir", str(tmp_path / "none"), status=2)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("rdplic: error:")


def test_capture_records_the_session_as_pcapng(serve: Any, tmp_path: Path) -> None:
    """--capture FILE: a pcapng (0600) of what the client sent and received, after TLS."""
    import stat

    server = serve()
    capture = tmp_path / "client.pcapng"
    _connect(server, tmp_path / "m", "--security", "tls", "--capture", str(capture))
    data = capture.read_bytes()
    assert data[:4] == bytes.fromhex("0a0d0d0a") and stat.S_IMODE(capture.stat().st_mode) == 0o600
    assert "Microsoft Corporation".encode("utf-16-le") in data  # the License Request, in clear
    from rdplic.capture.pcap import read_capture  # (was tests/pcapng.py, issue 14)

    (stream,) = read_capture(capture)
    assert stream.server == ("127.0.0.1", server.port)
    sent, received = stream.data(True), stream.data(False)
    assert sent.startswith(b"\x03\x00") and b"Cookie: mstshash=" in sent[:64]  # X.224 CR
    offset = 0
    while offset < len(received):  # TPKT frames only: no TLS record in the capture
        assert received[offset] == 0x03, (offset, received[offset : offset + 8].hex())
        offset += int.from_bytes(received[offset + 2 : offset + 4], "big")
    assert offset == len(received)


def test_encryption_levels_and_legacy_x224(serve: Any, tmp_path: Path) -> None:
    """--encryption picks the RC4 key size; rdp-legacy sends no RDP_NEG_REQ; both licensed."""
    server = serve("--security", "rdp")
    for bits in ("40", "56", "128"):
        result = _connect(server, tmp_path / bits, "--security", "rdp", "--encryption", bits)
        assert (result["security"], result["encryption"]) == ("rdp", int(bits)), result
    legacy = _connect(server, tmp_path / "legacy", "--security", "rdp-legacy")
    assert legacy["security"] == "rdp" and legacy["outcome"] == "new_license"


def test_negotiate_falls_back_to_standard_rdp_security(serve: Any, tmp_path: Path) -> None:
    """A server allowing only Standard RDP Security answers the default offer (TLS and RDP)
    with SSL_NOT_ALLOWED_BY_SERVER; the client connects again asking for RDP, as FreeRDP."""
    server = serve("--security", "rdp")
    result = _connect(server, tmp_path / "pc")
    assert (result["outcome"], result["security"]) == ("new_license", "rdp"), result
    lines = sorted((c["outcome"], c["error"]) for c in server.connections())
    assert lines == [
        ("ended", "negotiation failed: SSL_NOT_ALLOWED_BY_SERVER"),
        ("new_license", ""),
    ]
    tls_only = serve("--security", "tls")
    refused = _connect(tls_only, tmp_path / "pc2", "--security", "rdp", status=4)
    assert "SSL_REQUIRED_BY_SERVER" in refused["error"]  # no fallback the other way
    assert len(tls_only.connections()) == 1


def test_a_silent_server_is_a_time_out(tmp_path: Path) -> None:
    """A server that accepts and never answers: outcome timeout, exit status 5."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = rdplic_json(
            "client",
            f"127.0.0.1:{port}",
            "--timeout",
            "1",
            "--machine-dir",
            str(tmp_path / "m"),
            status=5,
        )
    assert result["outcome"] == "timeout" and "no end after 1 s" in result["error"]


def test_kb315262_builtin_cals_by_default_on_a_windows_2000_host(
    serve: Any, tmp_path: Path
) -> None:
    """R19 with the presets as they are: 2000 Pro and XP Pro get built-in CALs, XP Home not."""
    server = serve("--windows", "2000")
    got = {}
    for preset in ("windows-2000-professional", "windows-xp-professional", "windows-xp-home"):
        result = _connect(server, tmp_path / preset, "--platform", preset)
        got[preset] = (result["outcome"], result["temporary"])
    assert got == {
        "windows-2000-professional": ("new_license", False),
        "windows-xp-professional": ("new_license", False),
        "windows-xp-home": ("new_license", True),
    }
    packs = rdplic_json("keypack", "list", "--state-dir", str(server.state_dir))
    builtin = [pack for pack in packs if pack["key_pack_type"] == "built-in"]
    assert len(builtin) == 1
    # "issued" until the vocabulary's "issued_count" replaces it
    assert builtin[0].get("issued_count", builtin[0].get("issued")) == 2


def test_capture_keeps_tls_bytes_that_follow_the_confirm_out(tmp_path: Path) -> None:
    """A server's TLS bytes sent with its Connection Confirm go to TLS, not into the capture."""
    import contextlib
    import socket
    import threading

    from rdplic.pdu.framing import (
        Protocol,
        RdpNegotiationResponse,
        Tpkt,
        X224ConnectionConfirm,
        encode_tpkt,
        encode_x224,
    )

    confirm = encode_tpkt(
        Tpkt(encode_x224(X224ConnectionConfirm(RdpNegotiationResponse(Protocol.PROTOCOL_SSL))))
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer() -> None:
        connection, _ = listener.accept()
        with connection, contextlib.suppress(OSError):  # the client may reset
            connection.recv(4096)  # the Connection Request
            connection.sendall(confirm + b"\x16\x03\x01\x00\x05hello")  # not a TLS handshake
            connection.recv(4096)  # the ClientHello or the close

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    capture = tmp_path / "c.pcapng"
    result = rdplic_json(
        "client",
        f"127.0.0.1:{port}",
        "--security",
        "tls",
        "--timeout",
        "10",
        "--machine-dir",
        str(tmp_path / "m"),
        "--capture",
        str(capture),
        status=4,
    )
    thread.join(10)
    listener.close()
    assert result["outcome"] == "tls_failed", result
    from rdplic.capture.pcap import read_capture  # (was tests/pcapng.py, issue 14)

    (stream,) = read_capture(capture)
    assert stream.data(False) == confirm
