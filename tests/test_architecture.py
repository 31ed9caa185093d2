"""The layering invariants of the design (README, "Architecture"), checked on the import graph.

The graph is read from the code's syntax trees (every ``import`` and ``from ... import``,
relative ones resolved, inside functions too), not from its text: docstrings may name any
package.  Each module belongs to a floor; a module may import its own floor and the floors
below, never above, and no two packages may import each other.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Floors, lowest first.  A name maps to the floor of the longest prefix that matches it.
FLOORS: dict[str, int] = {
    "rdplic.pdu": 0,
    "rdplic.errors": 1,
    "rdplic.files": 1,
    "rdplic.vocabulary": 1,
    "rdplic.testing": 1,
    "rdplic.crypto": 2,
    "rdplic.core": 3,
    "rdplic.identity": 3,
    "rdplic.pdujson": 3,
    "rdplic.statedir": 3,
    "rdplic.licensing": 4,
    "rdplic.store": 4,
    "rdplic.net": 5,
    "rdplic.app": 5,
    "rdplic.capture": 5,
    "rdplic.simclient": 5,
    "rdplic.web": 5,
    "rdplic.fuzz": 5,
    "rdplic.hostile": 4,
    "rdplic.cli": 6,
    "rdplic.__main__": 6,
}
FLOOR_NAMES = ["pdu", "base", "crypto", "core", "licensing/store", "net/wiring", "cli"]
"""Floor 0 is the repository's pdu/ folder, installed as rdplic.pdu."""

# What may cross floors but stays its own unit for the cycle check.
PACKAGES = sorted(FLOORS, key=len, reverse=True)


def _module_name(path: Path) -> str:
    """The installed name: the repository's pdu/ folder is the package rdplic.pdu."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "pdu":
        parts.insert(0, "rdplic")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names), wherever the import statement is."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # "from rdplic.core import decisions" imports the module rdplic.core.decisions.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _project_modules() -> dict[str, Path]:
    """Every module, read once: pdu/ itself, not again through the rdplic/pdu link."""
    link = ROOT / "rdplic" / "pdu"
    paths = [*sorted((ROOT / "pdu").rglob("*.py"))]
    paths += [p for p in sorted((ROOT / "rdplic").rglob("*.py")) if link not in p.parents]
    return {_module_name(p): p for p in paths}


MODULES = _project_modules()


def _unit(name: str) -> str | None:
    """The package (or top-level module) of the design that ``name`` belongs to."""
    for prefix in PACKAGES:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


def _graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        graph[name] = {n for n in _imports(path) if n in MODULES}
    return graph


GRAPH = _graph()


def test_every_module_has_a_floor() -> None:
    """Each module of pdu/ and rdplic/ belongs to a floor of the design (no orphan)."""
    orphans = [name for name in MODULES if name != "rdplic" and _unit(name) is None]
    assert not orphans, f"modules outside the design's floors: {orphans}"


def test_no_module_imports_a_floor_above_its_own() -> None:
    """pdu <- base <- crypto <- core <- licensing/store <- net/wiring <- cli, never upwards."""
    bad = []
    for name, imported in GRAPH.items():
        unit = _unit(name)
        if unit is None:
            continue
        for target in imported:
            target_unit = _unit(target)
            if target_unit is not None and FLOORS[target_unit] > FLOORS[unit]:
                bad.append(
                    f"{name} ({FLOOR_NAMES[FLOORS[unit]]}) imports {target} "
                    f"({FLOOR_NAMES[FLOORS[target_unit]]})"
                )
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_core_imports_no_store_policy_network_or_cli() -> None:
    """rdplic/core never reaches the license server, its store, the network or the CLI
    (architecture invariant 2: decisions come in as inputs)."""
    forbidden = ("rdplic.licensing", "rdplic.store", "rdplic.net", "rdplic.cli", "rdplic.app")
    bad = {
        (name, target)
        for name, imported in GRAPH.items()
        if name.startswith("rdplic.core")
        for target in imported
        if target.startswith(forbidden)
    }
    assert not bad


def test_no_two_packages_import_each_other() -> None:
    """The package graph has no cycle (licensing and store, on one floor, included)."""
    edges: dict[str, set[str]] = {unit: set() for unit in FLOORS}
    for name, imported in GRAPH.items():
        unit = _unit(name)
        for target in imported:
            target_unit = _unit(target)
            if unit and target_unit and target_unit != unit:
                edges[unit].add(target_unit)
    cycles = [
        (a, b) for a, b in itertools.combinations(FLOORS, 2) if b in edges[a] and a in edges[b]
    ]
    assert not cycles, f"packages that import each other: {cycles}"
    # And no longer cycle either: a depth-first search over the package graph.
    state: dict[str, int] = {}

    def visit(unit: str, path: list[str]) -> None:
        state[unit] = 1
        for target in edges[unit]:
            if state.get(target) == 1:
                raise AssertionError(f"package cycle: {' -> '.join([*path, unit, target])}")
            if target not in state:
                visit(target, [*path, unit])
        state[unit] = 2

    for unit in FLOORS:
        if unit not in state:
            visit(unit, [])


def test_pdu_imports_only_construct_and_stdlib() -> None:
    """pdu/ imports nothing but construct, the standard library and itself (invariant 1)."""
    allowed = set(sys.stdlib_module_names) | {"construct"}
    for name, path in MODULES.items():
        if name != "rdplic.pdu" and not name.startswith("rdplic.pdu."):
            continue
        bad = {
            n
            for n in _imports(path)
            if n.split(".")[0] not in allowed
            and n != "rdplic"
            and not n.startswith("rdplic.pdu.")
            and n != "rdplic.pdu"
        }
        assert not bad, f"{name} imports {sorted(bad)}"


def test_nothing_imports_a_top_level_pdu() -> None:
    """The wire formats are imported as rdplic.pdu everywhere: a top-level ``pdu`` (which a
    checkout's working directory makes importable) would be a second copy of every class."""
    roots = [ROOT / "tests", ROOT / "benchmarks", ROOT / "scripts"]
    paths = [*MODULES.values(), *(p for root in roots for p in root.rglob("*.py"))]
    bad = [str(p) for p in paths if any(n.split(".")[0] == "pdu" for n in _imports(p))]
    assert not bad, f"modules importing the top-level pdu: {bad}"


def test_the_wheel_installs_rdplic_pdu_and_no_top_level_pdu(tmp_path: Path) -> None:
    """The built wheel holds rdplic/pdu/ and no top-level pdu package, which would collide
    with the PyPI project named pdu."""
    import zipfile

    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q"]
    subprocess.run(
        [*pip, "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("rdplic-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rdplic/pdu/licensing/messages.py" in names
    assert "rdplic/pdu/py.typed" in names
    assert not [n for n in names if n.startswith("pdu/")]


def test_core_has_no_io_clock_or_randomness() -> None:
    """rdplic/core imports no Twisted, socket, time, random, os, asyncio or database
    (invariant 2)."""
    forbidden = {"twisted", "socket", "time", "random", "os", "secrets", "asyncio", "sqlite3"}
    for name, path in MODULES.items():
        if not name.startswith("rdplic.core"):
            continue
        bad = {n for n in _imports(path) if n.split(".")[0] in forbidden}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_crypto_is_pure() -> None:
    """rdplic/crypto does no network or database I/O of its own."""
    forbidden = {"twisted", "socket", "asyncio", "sqlite3"}
    for name, path in MODULES.items():
        if not name.startswith("rdplic.crypto"):
            continue
        bad = {n for n in _imports(path) if n.split(".")[0] in forbidden}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The import reader finds imports inside functions and relative ones, which a text
    search for "import rdplic.store" at the top of a file would miss."""
    package = tmp_path / "rdplic" / "core"
    package.mkdir(parents=True)
    sample = package / "sample.py"
    sample.write_text(
        '"""Mentions rdplic.store in a docstring."""\n'
        "def later():\n"
        "    from ..licensing import policy\n"
        "    import rdplic.net.server\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = _imports(sample)
    finally:
        ROOT = saved
    assert {"rdplic.licensing", "rdplic.licensing.policy", "rdplic.net.server"} <= found
    assert "rdplic.store" not in found


@pytest.mark.parametrize(
    "name",
    [
        "rdplic.pdu",
        "rdplic.crypto",
        "rdplic.core",
        "rdplic.licensing",
        "rdplic.store",
        "rdplic.net",
        "rdplic.identity",
        "rdplic.app",
        "rdplic.cli.main",
    ],
)
def test_each_package_imports_on_its_own(name: str) -> None:
    """Every package imports first in a fresh interpreter (no import cycle hides behind
    another)."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"import {name}: {result.stderr.strip().splitlines()[-1:]}"
