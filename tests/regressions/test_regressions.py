"""Every fuzz finding ever made, replayed: each file under tests/regressions/TARGET/ is an input
that once failed target TARGET of rdplic.fuzz (the folder name, ':' written '-'), and must now
be handled (a value or the target's documented error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdplic.fuzz.runner import failure_signature
from rdplic.fuzz.seeds import read_input
from rdplic.fuzz.targets import TARGETS

HERE = Path(__file__).resolve().parent
FINDINGS = sorted(
    path
    for path in HERE.glob("*/*")
    if path.is_file() and path.suffix in ("", ".bin", ".hex") and path.parent.name != "__pycache__"
)


def _target(folder: str) -> str:
    kind, _, name = folder.partition("-")
    return f"{kind}:{name}"


def test_every_folder_names_a_target() -> None:
    """Each folder of tests/regressions is named after an existing target."""
    folders = [p.name for p in HERE.iterdir() if p.is_dir() and p.name != "__pycache__"]
    for folder in folders:
        assert _target(folder) in TARGETS, folder


@pytest.mark.parametrize("path", FINDINGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_finding_is_fixed(path: Path) -> None:
    """The input that once failed this target is now handled."""
    target = TARGETS[_target(path.parent.name)]
    assert failure_signature(target, read_input(path)) is None
