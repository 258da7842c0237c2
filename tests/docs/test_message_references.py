"""A message that sends the reader to the documentation names a page and a section that exist.

phyper's messages say where to read on ("see 'Overriding non-keys for one run' in
docs/concepts.md"); `phyper status` once pointed to a README section, 'Non-keys', that
did not exist. Every string in the packages' sources is read (the parts of an f-string
included): each ``docs/<page>.md`` or ``README.md`` it names exists, and each section
quoted before ``in <page>`` is a heading of that page.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from engines import REPO

PAGE = re.compile(r"\b(?:docs/[\w./-]+|README)\.md\b")
SECTION = re.compile(r"'(?P<section>[^']+)' in (?P<page>(?:docs/[\w./-]+|README)\.md)")
README_SECTION = re.compile(r"README\W{0,3}'(?P<section>[^']+)'")


def strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant of a module (f-strings: their literal parts joined)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            text = "".join(str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values)
            found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def headings(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {line.lstrip("#").strip() for line in text.splitlines() if re.match(r"#{1,6} ", line)}


SOURCES = sorted(REPO.glob("packages/*/src/**/*.py"))
MESSAGES = [(path, line, text) for path in SOURCES for line, text in strings(path)]


def test_the_messages_name_sections_of_pages() -> None:
    sections = [(path, line, match) for path, line, text in MESSAGES for match in SECTION.finditer(text)]

    assert {"docs/concepts.md", "docs/phyper0.md"} <= {match["page"] for _, _, match in sections}


def test_every_page_a_message_names_exists() -> None:
    missing = [
        f"{path.relative_to(REPO)}:{line}: {page}"
        for path, line, text in MESSAGES
        for page in PAGE.findall(text)
        if not (REPO / page).is_file()
    ]

    assert [] == missing


def test_every_section_a_message_names_is_a_heading_of_its_page() -> None:
    missing = [
        f"{path.relative_to(REPO)}:{line}: {match['section']!r} is not a heading of {match['page']}"
        for path, line, text in MESSAGES
        for match in SECTION.finditer(text)
        if match["section"] not in headings(REPO / match["page"])
    ] + [
        f"{path.relative_to(REPO)}:{line}: {match['section']!r} is not a heading of README.md"
        for path, line, text in MESSAGES
        for match in README_SECTION.finditer(text)
        if match["section"] not in headings(REPO / "README.md")
    ]

    assert [] == missing


def test_every_pip_install_a_message_gives_names_a_phyper_distribution_that_exists() -> None:
    distributions = {
        tomllib.loads(path.read_text(encoding="utf-8"))["project"]["name"]
        for path in [*REPO.glob("packages/*/pyproject.toml"), REPO / "examples" / "iris" / "pyproject.toml"]
    }
    named = [
        (path, line, match["name"])
        for path, line, text in MESSAGES
        for match in re.finditer(r"pip install (?:-U )?'?(?P<name>phyper[\w-]*)", text)
    ]
    wrong = [f"{path.relative_to(REPO)}:{line}: {name}" for path, line, name in named if name not in distributions]

    assert len(named) >= 3
    assert [] == wrong, f"the distributions are {sorted(distributions)}"
