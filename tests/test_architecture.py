"""The layering invariants of the design (README, "Architecture"), checked on the import graph."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_top_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_pdu_imports_only_construct_and_stdlib() -> None:
    """pdu/ imports nothing but construct, the standard library and itself (invariant 1)."""
    allowed = set(sys.stdlib_module_names) | {"construct", "pdu"}
    for path, names in _imported_top_modules("pdu").items():
        bad = {n for n in names if n.split(".")[0] not in allowed}
        assert not bad, f"{path} imports {sorted(bad)}"


def test_core_has_no_io_clock_or_randomness() -> None:
    """rdplic/core imports no Twisted, socket, time, random, os or store (invariant 2)."""
    forbidden = {"twisted", "socket", "time", "random", "os", "secrets", "asyncio", "sqlite3"}
    for path, names in _imported_top_modules("rdplic/core").items():
        bad = {n for n in names if n.split(".")[0] in forbidden or n.startswith("rdplic.store")}
        bad |= {n for n in names if n.startswith("rdplic.net")}
        assert not bad, f"{path} imports {sorted(bad)}"


def test_crypto_is_pure() -> None:
    """rdplic/crypto does no I/O of its own: no sockets, no reactor, no store."""
    forbidden = {"twisted", "socket", "asyncio", "sqlite3"}
    for path, names in _imported_top_modules("rdplic/crypto").items():
        bad = {n for n in names if n.split(".")[0] in forbidden or n.startswith("rdplic.store")}
        assert not bad, f"{path} imports {sorted(bad)}"


def test_each_package_imports_on_its_own() -> None:
    """Every package imports first in a fresh interpreter (no import cycle hides behind another)."""
    import subprocess

    packages = [
        "pdu",
        "rdplic.crypto",
        "rdplic.core",
        "rdplic.licensing",
        "rdplic.store",
        "rdplic.net",
        "rdplic.identity",
        "rdplic.cli.main",
    ]
    for name in packages:
        result = subprocess.run(
            [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"import {name}: {result.stderr.strip().splitlines()[-1:]}"
