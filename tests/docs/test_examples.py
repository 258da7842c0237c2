"""Every complete example of the documentation runs (docs/**/*.md and README.md).

A block fenced ```` ```py ```` is a complete example; ```` ```python ```` is a fragment
and is not run. The ```` ```py ```` blocks of one page run in order, in one fresh
folder per page, each in its own `python` process: a block titled
(```` ```py title="config.py" ````) is written under that name first, so that the
blocks after it import it, as a reader who copies the page would. A block passes
when its process exits with status 0 (the examples check their results with
`assert`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from engines import REPO, environment

FENCE = re.compile(r"^(?P<indent> *)```py(?P<attributes>[^\n`]*)\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)
TITLE = re.compile(r'title="(?P<title>[^"]+)"')


def examples(page: Path) -> list[tuple[int, str | None, str]]:
    """(line, title or None, code) of each complete example of the page, in order."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        # ```python is a fragment: the fence must be exactly ```py
        if match["attributes"] and not match["attributes"][0].isspace():
            continue
        title = TITLE.search(match["attributes"])
        indent = len(match["indent"])
        code = "".join(line[indent:] for line in match["code"].splitlines(keepends=True))
        found.append((text.count("\n", 0, match.start()) + 1, title["title"] if title else None, code))
    return found


PAGES = sorted(
    [path for path in (REPO / "docs").rglob("*.md") if examples(path)]
    + ([REPO / "README.md"] if examples(REPO / "README.md") else [])
)


def test_the_extractor_tells_examples_from_fragments(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nfragment()\n```\n\n```py title=\"config.py\"\nx = 1\n```\n\n"
        "- item\n\n    ```py\n    import config\n    ```\n"
    )

    assert [(5, "config.py", "x = 1\n"), (11, None, "import config\n")] == examples(page)


def test_the_documentation_has_complete_examples() -> None:
    pages = {str(page.relative_to(REPO)) for page in PAGES}

    assert {"README.md", "docs/quickstart.md", "docs/concepts.md", "docs/pipelines.md"} <= pages


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_the_examples_of_a_page_run(page: Path, tmp_path: Path) -> None:
    ran = []
    for number, (line, title, code) in enumerate(examples(page)):
        script = tmp_path / (title or f"example_{number}_line_{line}.py")
        script.write_text(code, encoding="utf-8")
        completed = subprocess.run(
            [sys.executable, script.name], cwd=tmp_path, env=environment(), capture_output=True, text=True
        )
        assert 0 == completed.returncode, (
            f"{page.relative_to(REPO)}:{line} ({script.name}) exited {completed.returncode}\n"
            f"--- stdout\n{completed.stdout[-4000:]}\n--- stderr\n{completed.stderr[-4000:]}"
        )
        ran.append(line)

    assert len(examples(page)) == len(ran)


def test_the_readme_links_to_files_that_exist() -> None:
    # the site checks its own links (mkdocs --strict); the README is read on its own
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = [target.split("#")[0] for target in re.findall(r"\]\(([^)]+)\)", readme) if "://" not in target]

    missing = [target for target in targets if not (REPO / target).exists()]

    assert [] == missing
    assert "docs/quickstart.md" in targets
