"""MkDocs hook: the built site is checked before the build counts as done.

After every build (`hatch run docs:build`), the rendered pages are read back and the
build fails, naming each culprit, when:

* a page's text shows a raw Sphinx role (``:meth:`x```, ``:class:`x```: the house
  style is Markdown, a code span or a ``[`x`][phyper.x]`` cross-reference);
* a paragraph ends in ``::`` (a reStructuredText literal block, which Markdown
  renders as text followed by a cut-off code block; use a fenced block);
* the API reference does not open each package with its main classes (for
  ``phyper``: `Parser`, then `Pipeline`);
* the site publishes Python files (the build's own hooks).
"""

from __future__ import annotations

import html
import os
import re
from typing import Any

# as written (":meth:`x`") or as rendered (":meth:" then the code span's text)
RAW_ROLE = re.compile(r":(?:py:)?(?:meth|mod|func|class|attr|exc|data|obj|ref):`?~?[\w.]*\w")
LITERAL_MARKER = re.compile(r"\S::\s*$", re.M)
TAG = re.compile(r"<[^>]+>")
MEMBER_HEADING = re.compile(r'<h[2-6] id="(?P<id>[^"]+)" class="doc doc-heading"')
FIRST_MEMBERS = {"phyper": ["phyper.Parser", "phyper.Pipeline"]}


def page_text(page_html: str) -> str:
    """The text of a page as a reader sees it: tags removed (code blocks kept), entities decoded."""
    return html.unescape(TAG.sub("", page_html))


def page_problems(name: str, page_html: str) -> list[str]:
    """What is wrong with one rendered page (raw roles, literal-block markers)."""
    text = page_text(page_html)
    problems = [f"{name}: raw Sphinx role {role!r}" for role in RAW_ROLE.findall(text)]
    for match in LITERAL_MARKER.finditer(text):
        line = text[text.rfind("\n", 0, match.start()) + 1 : match.end()].strip()
        problems.append(f"{name}: reStructuredText literal-block marker '::' in {line!r}")
    return problems


def api_order_problems(page_html: str) -> list[str]:
    """Whether each package's first members on the API page are its main classes."""
    members = [match["id"] for match in MEMBER_HEADING.finditer(page_html)]
    problems = []
    for package, first in FIRST_MEMBERS.items():
        own = [member for member in members if member.split(".")[0] == package and member.count(".") == 1]
        if own[: len(first)] != first:
            problems.append(f"api: {package}'s reference must open with {first}, it opens with {own[: len(first)]}")
    return problems


def site_problems(site_dir: str) -> list[str]:
    """Every problem of a built site (see the module docstring)."""
    problems = []
    for folder, _, files in os.walk(site_dir):
        for file in files:
            path = os.path.join(folder, file)
            name = os.path.relpath(path, site_dir)
            if file.endswith(".py"):
                problems.append(f"{name}: a Python file is published (exclude it with `exclude_docs` in mkdocs.yml)")
            elif file.endswith(".html"):
                with open(path, encoding="utf-8") as handle:
                    page_html = handle.read()
                problems += page_problems(name, page_html)
                if name == os.path.join("api", "index.html"):
                    problems += api_order_problems(page_html)
    return problems


def on_post_build(config: Any) -> None:
    """Fail the build when the built site has a problem (every one is named)."""
    from mkdocs.exceptions import PluginError

    problems = site_problems(config["site_dir"])
    if problems:
        raise PluginError("the built site has problems:\n" + "\n".join(problems))
