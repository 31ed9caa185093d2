"""``rdplic keys`` and ``rdplic license inspect`` (through a throwaway ``license`` parser)."""

from __future__ import annotations

import argparse
import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from crypto_helpers import seeded
from crypto_vectors import CRYPTO, json_file, spec_43_license

from rdplic.cli.license_inspect import register_inspect
from rdplic.cli.main import main
from rdplic.crypto import parse_license
from rdplic.errors import RdplicError
from rdplic.identity import ServerIdentity

KEYS = json_file(CRYPTO / "ironrdp-licensing-keys.json")


def _inspect(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rdplic")
    commands = parser.add_subparsers(dest="command")
    license_parser = commands.add_parser("license")
    register_inspect(license_parser.add_subparsers(dest="action"))
    args = parser.parse_args(["license", "inspect", "--json", *argv])
    return int(args.func(args))


def test_keys_derive_known_answer(capsys: pytest.CaptureFixture[str]) -> None:
    """keys derive prints IronRDP's master secret, session key blob and licensing key."""
    status = main(
        [
            "keys",
            "derive",
            "--client-random",
            KEYS["client_random"],
            "--server-random",
            KEYS["server_random"],
            "--premaster",
            KEYS["premaster_secret"],
        ]
    )
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert out["master_secret"] == KEYS["master_secret"]
    assert out["session_key_blob"] == KEYS["session_key_blob"]
    assert out["mac_salt_key"] == KEYS["session_key_blob"][:32]
    assert out["licensing_encryption_key"] == KEYS["licensing_encryption_key"]


@pytest.mark.parametrize("premaster", ["zz", "00" * 47])
def test_keys_derive_bad_input(premaster: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad hex or a wrong size is one error line and exit status 2."""
    status = main(
        ["keys", "derive", "--client-random", "00" * 32, "--server-random", "00" * 32,
         "--premaster", premaster]
    )  # fmt: skip
    assert status == 2
    assert capsys.readouterr().err.startswith("rdplic: error:")


def test_keys_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """keys show prints the identity of the state directory, and fails cleanly without one."""
    assert main(["keys", "show", "--state-dir", str(tmp_path)]) == 2
    capsys.readouterr()
    identity = ServerIdentity.load_or_create(
        tmp_path, proprietary_key_bits=512, random_bytes=seeded(3).randbytes,
        license_server_key_bits=1024, terminal_server_key_bits=1024,
    )  # fmt: skip
    assert main(["keys", "show", "--json", "--state-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["license_server"]["name"] == identity.license_server.name
    assert out["proprietary_certificate"]["key_bits"] == 512


@pytest.mark.parametrize("form", ["der", "hex", "pem"])
def test_inspect_spec_43_license(
    form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect decodes the Windows license of MS-RDPELE 4.3 stored as .cal (DER), hex or PEM."""
    blob = spec_43_license()
    path = tmp_path / "license.cal"
    if form == "der":
        path.write_bytes(blob)
    elif form == "hex":
        path.write_text(blob.hex(" ", 16))
    else:
        body = base64.encodebytes(blob).decode()
        path.write_text(f"-----BEGIN PKCS7-----\n{body}-----END PKCS7-----\n")
    assert _inspect([str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["client_name"] == "RODENT"
    assert out["user_name"] == "Administrator"
    assert out["version"] == "6.0" and out["temporary"] is True
    assert out["hwid"] == "02000000f159873ec9d898af2402f8f3293af026"
    assert out["issued"] == "2007-06-20T14:51:35Z"
    assert out["issuer"]["name"] == "RODENT"
    assert "validation" not in out


def test_inspect_validates_against_a_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--issuer-certificate adds the verdict: valid for the license's own license server."""
    blob = spec_43_license()
    issuer = parse_license(blob).issuer_certificate
    assert issuer is not None
    (tmp_path / "lic.cal").write_bytes(blob)
    (tmp_path / "ls.der").write_bytes(issuer)
    assert (
        _inspect([str(tmp_path / "lic.cal"), "--issuer-certificate", str(tmp_path / "ls.der")]) == 0
    )
    assert json.loads(capsys.readouterr().out)["validation"]["status"] == "valid"


def test_inspect_validates_against_the_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--validate checks against this server's license server: a Windows license is foreign."""
    ServerIdentity.load_or_create(
        tmp_path / "state", proprietary_key_bits=512, random_bytes=seeded(4).randbytes,
        license_server_key_bits=1024, terminal_server_key_bits=1024,
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    (tmp_path / "lic.cal").write_bytes(spec_43_license())
    argv = [str(tmp_path / "lic.cal"), "--validate", "--state-dir", str(tmp_path / "state")]
    assert _inspect(argv) == 0
    assert json.loads(capsys.readouterr().out)["validation"]["status"] == "foreign"


def test_inspect_rejects_non_licenses(tmp_path: Path) -> None:
    """A file that is not a license raises an RdplicError (one line, exit 2 from main)."""
    (tmp_path / "x").write_bytes(b"\x30\x03\x02\x01\x01")
    with pytest.raises(RdplicError):
        _inspect([str(tmp_path / "x")])
    with pytest.raises(RdplicError):
        _inspect([str(tmp_path / "missing")])
