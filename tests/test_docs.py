"""The documents the code cites are in the repository: rule numbers, docs/ paths, sections.

Code, help texts, errors and tests cite the license server's rules as "R50" or "R49-R51"
(docs/license-server-behavior.md) and the other documents as "docs/protocol.md 3.9" or
"docs/real-clients.md section 4"; a user who reads one must find it under docs/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RULES = ROOT / "docs/license-server-behavior.md"

# Where the project cites rules and documents: the code, the tests, and the pages users read.
CITING_DIRS = ("rdplic", "pdu", "tests", "benchmarks", "scripts")
CITING_FILES = ("README.md", "CHANGELOG.md")
TEXT_SUFFIXES = {".py", ".md", ".txt", ".json", ".toml", ".cfg", ".ini", ".sh"}

# A rule cited as a word (R12, R50) or a range (R49-R51, R1-R84, which cites every rule in it).
_RULE_RANGE = re.compile(r"\bR(\d+)\s*[-\u2013]\s*R(\d+)\b")
_RULE = re.compile(r"\bR(\d+)\b")
# A rule's own entry: a heading "### R50 [A/B] ..." or an entry "**R50 [A/B]** ...".
_RULE_ENTRY = re.compile(r"^(?:#{1,6} |\*\*)R(\d+)\b", re.MULTILINE)
# A document under docs/, and optionally the section cited after it ("3.9", "section 4").
_DOCS_PATH = re.compile(r"\bdocs/([\w.-]+\.md)(?:,? (?:section )?(\d+(?:\.\d+)*)\b)?")
# The three documents by name, with or without a directory in front.
_DOC_NAME = re.compile(
    r"(?<![\w.-])((?:[\w.-]+/)*)(license-server-behavior|protocol|real-clients)\.md"
)
_MD_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _citing_files() -> Iterator[Path]:
    for name in CITING_DIRS:
        for path in sorted((ROOT / name).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts:
                yield path
    for name in CITING_FILES:
        path = ROOT / name
        if path.is_file():
            yield path


def _texts() -> Iterator[tuple[Path, str]]:
    for path in _citing_files():
        yield path, path.read_text(encoding="utf-8", errors="replace")


def _cited_rules(text: str) -> set[int]:
    rules = {int(n) for n in _RULE.findall(text)}
    for first, last in _RULE_RANGE.findall(text):
        rules.update(range(int(first), int(last) + 1))
    return rules


def _section_numbers(page: str) -> set[str]:
    """The numbers of a page's headings: "## 4. Per-device" gives "4", "### 3.9 Key sizes" "3.9"."""
    return {m.group(1) for m in re.finditer(r"^#{1,6} (\d+(?:\.\d+)*)\.?\s", page, re.MULTILINE)}


def test_every_cited_rule_has_an_entry() -> None:
    """Every rule cited in the code and tests (R12, or R49-R51) is an entry of the rules page."""
    entries = {int(n) for n in _RULE_ENTRY.findall(RULES.read_text(encoding="utf-8"))}
    missing = {
        f"R{rule}: {path.relative_to(ROOT)}"
        for path, text in _texts()
        for rule in _cited_rules(text)
        if rule not in entries
    }
    assert not missing, sorted(missing)


def test_rules_page_numbers_every_rule_once() -> None:
    """The rules page has exactly one entry for each of R1-R84, in order."""
    entries = [int(n) for n in _RULE_ENTRY.findall(RULES.read_text(encoding="utf-8"))]
    assert entries == list(range(1, 85))


def test_cited_docs_paths_exist() -> None:
    """Every docs/*.md path the code, tests and README cite is a file of the repository."""
    missing = {
        f"docs/{name}: {path.relative_to(ROOT)}"
        for path, text in _texts()
        for name, _ in _DOCS_PATH.findall(text)
        if not (DOCS / name).is_file()
    }
    assert not missing, sorted(missing)


def test_cited_sections_exist() -> None:
    """A cited section ("docs/protocol.md 3.9", "section 7") is a numbered heading of that page."""
    missing = set()
    for path, text in _texts():
        for name, section in _DOCS_PATH.findall(text):
            page = DOCS / name
            if not (section and page.is_file()):
                continue
            if section not in _section_numbers(page.read_text(encoding="utf-8")):
                missing.add(f"docs/{name} {section}: {path.relative_to(ROOT)}")
    assert not missing, sorted(missing)


def test_documents_are_cited_with_their_docs_path() -> None:
    """Outside docs/, the three documents are named by their docs/ path, never by a bare name."""
    bare = {
        f"{path.relative_to(ROOT)}: {prefix}{name}.md"
        for path, text in _texts()
        for prefix, name in _DOC_NAME.findall(text)
        if prefix != "docs/"
    }
    assert not bare, sorted(bare)


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_links_between_docs_resolve(page: str) -> None:
    """Every relative link of a docs/ page points at a file that exists."""
    text = (DOCS / page).read_text(encoding="utf-8")
    links = [link for link in _MD_LINK.findall(text) if "://" not in link]
    broken = [link for link in links if not (DOCS / link).resolve().exists()]
    assert not broken, broken
