"""Lint, format and type checks, run with the suite so that the README test command covers them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_ruff_lint_is_clean() -> None:
    """ruff finds no lint error in the project."""
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_ruff_format_is_clean() -> None:
    """Every file is formatted as ruff formats it."""
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    """mypy passes (strict on pdu/ and rdplic/core, per pyproject.toml)."""
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
