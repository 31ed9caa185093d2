"""Everyday mistakes through the real ``rdplic`` entry point: one line naming what is wrong,
exit status 2, no traceback, nothing created or changed (issue 12, README "Exit status").

CI runs as root, and root writes into a mode-0500 directory: the unwritable cases drop the
capabilities that let root ignore file modes (``setpriv``), so the kernel refuses as it
would for any user.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_process import command, rdplic

from rdplic.cli.main import build_parser

READ_ONLY = [
    ["keypack", "list"],
    ["license", "list"],
    ["license", "show", "1"],
    ["history"],
    ["report"],
    ["config", "show"],
    ["clock", "show"],
    ["keys", "show"],
]


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit status 2, one line on stderr containing ``words``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def unprivileged(*argv: str, **options: object) -> subprocess.CompletedProcess[str]:
    """``rdplic ARGV`` without the capabilities that let root write anywhere."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:  # pragma: no cover - util-linux is in every Debian
            pytest.fail("setpriv (util-linux) is needed to drop root's capabilities")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:  # pragma: no cover - a container without CAP_SETPCAP
            pytest.skip(f"cannot drop root's capabilities here: {probe.stderr.strip()}")
    return subprocess.run(
        [*prefix, *command(*argv)], capture_output=True, text=True, timeout=60, **options
    )  # type: ignore[call-overload,no-any-return]


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody may write into (mode 0500)."""
    directory = tmp_path / "locked"
    directory.mkdir()
    directory.chmod(0o500)
    yield directory
    directory.chmod(0o700)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another socket listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_on_a_port_in_use(tmp_path: Path, busy_port: int) -> None:
    """rdplic serve on a port already in use: one line naming the address, exit 2."""
    result = rdplic("serve", "--port", str(busy_port), "--state-dir", str(tmp_path / "s"))
    one_line_error(result, f"127.0.0.1:{busy_port}", "in use")


def test_serve_on_an_address_this_machine_does_not_have(tmp_path: Path) -> None:
    """--host that cannot be bound (TEST-NET-1, RFC 5737): one line, exit 2."""
    result = rdplic("serve", "--host", "192.0.2.1", "--port", "0", "--state-dir", str(tmp_path))
    one_line_error(result, "cannot listen on 192.0.2.1:0")


@pytest.mark.parametrize("argv", [["serve", "--port", "0"], ["keypack", "add", "--type",
                                  "per-device", "--count", "1"], *READ_ONLY])  # fmt: skip
def test_state_dir_that_is_a_file(tmp_path: Path, argv: list[str]) -> None:
    """--state-dir naming a file: one line saying so, for serve and every admin command."""
    target = tmp_path / "file"
    target.write_text("not a directory")
    one_line_error(rdplic(*argv, "--state-dir", str(target)), str(target), "not a directory")


@pytest.mark.parametrize("argv", [["serve", "--port", "0"], ["keypack", "add", "--type",
                                  "per-device", "--count", "1"]])  # fmt: skip
def test_state_dir_that_cannot_be_created(tmp_path: Path, argv: list[str]) -> None:
    """A state directory under a file cannot be created: one line, exit 2."""
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "state"
    one_line_error(rdplic(*argv, "--state-dir", str(target)), "cannot create", str(target))


ADD = ["keypack", "add", "--type", "per-device", "--count", "1"]


@pytest.mark.parametrize("argv", [["serve", "--port", "0"], ADD, ["clock", "advance", "1d"]])
def test_state_dir_not_writable(locked: Path, argv: list[str]) -> None:
    """A state directory the user cannot write into (or create a directory in): one line."""
    one_line_error(unprivileged(*argv, "--state-dir", str(locked)), "cannot write", str(locked))
    below = locked / "state"
    one_line_error(unprivileged(*argv, "--state-dir", str(below)), "cannot create", str(below))
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("option", ["--log-file", "--tls-keylog", "--capture"])
def test_serve_files_checked_at_start(tmp_path: Path, locked: Path, option: str) -> None:
    """A --log-file, --tls-keylog or --capture that cannot be written is refused at start,
    not when the first connection writes to it."""
    state = tmp_path / "state"
    missing = tmp_path / "no-such-dir" / "file"
    result = rdplic("serve", "--port", "0", "--state-dir", str(state), option, str(missing))
    one_line_error(result, option, str(missing))
    result = rdplic("serve", "--port", "0", "--state-dir", str(state), option, str(tmp_path))
    one_line_error(result, option, "is a directory")
    result = unprivileged(
        "serve", "--port", "0", "--state-dir", str(state), option, str(locked / "f")
    )
    one_line_error(result, option, "cannot write")


@pytest.mark.parametrize("argv", READ_ONLY)
def test_read_only_commands_never_create_state(tmp_path: Path, argv: list[str]) -> None:
    """A mistyped --state-dir is an error naming it; no directory, no database appears."""
    missing = tmp_path / "mistyped"
    one_line_error(rdplic(*argv, "--state-dir", str(missing)), str(missing), "does not exist")
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = rdplic(*argv, "--state-dir", str(empty))
    one_line_error(result, str(empty))
    assert list(empty.iterdir()) == []


def test_clock_advance_negative_says_what_is_wrong(tmp_path: Path) -> None:
    """clock advance -5d: the clock only moves forward (not "DURATION is required")."""
    one_line_error(
        rdplic("clock", "advance", "-5d", "--state-dir", str(tmp_path)), "-5d", "forward"
    )
    assert list(tmp_path.iterdir()) == []


def test_per_seat_is_per_device(tmp_path: Path) -> None:
    """--type per-seat (Windows 2000's name) installs per-device CALs, as documented."""
    state = str(tmp_path / "s")
    result = rdplic("keypack", "add", "--type", "per-seat", "--count", "1", "--json",
                    "--state-dir", state)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cal_type"] == "per-device"
    help_text = rdplic("keypack", "add", "--help").stdout
    assert "per-seat" in help_text


def test_argparse_mistakes_are_one_line(tmp_path: Path) -> None:
    """An unknown option or a missing action: one line pointing at --help, exit 2."""
    one_line_error(rdplic("license", "list", "--colour", "--state-dir", str(tmp_path)), "--colour")
    one_line_error(rdplic("keypack"), "--help")


def test_unknown_option_points_at_its_own_command() -> None:
    """An unknown option after a subcommand names that subcommand and its --help."""
    result = rdplic("license", "list", "--colour")
    one_line_error(
        result, "rdplic license list: error:", "--colour", "see rdplic license list --help"
    )
    one_line_error(rdplic("serve", "--bogus"), "see rdplic serve --help")


def test_plural_and_grammar(tmp_path: Path) -> None:
    """One CAL is "1 per-device CAL"; an inactive license is named with its state."""
    state = str(tmp_path / "s")
    added = rdplic("keypack", "add", "--type", "per-device", "--count", "1", "--state-dir", state)
    assert "1 per-device CAL for" in added.stdout, added.stdout
    removed = rdplic("keypack", "remove", "1", "--count", "1", "--state-dir", state)
    assert "removed 1 CAL from key pack 1" in removed.stdout, removed.stdout


def _parsers(parser: argparse.ArgumentParser, prog: str = "rdplic") -> Iterator[
    tuple[str, argparse.ArgumentParser]
]:  # fmt: skip
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def test_help_is_plain_text_with_an_example() -> None:
    """Every command's --help: no reStructuredText markup, no repeated choices, an example."""
    for prog, parser in _parsers(build_parser()):
        text = parser.format_help()
        assert "`" not in text, prog
        assert "{rdp,tls,rdp,tls}" not in text and "rdp,rdp" not in text, prog
        assert "example" in text and "\n  rdplic " in text, prog
