"""The API reference renders as Markdown, in a reader's order, and the site publishes only pages.

The docstrings are Markdown (Google style, read by griffe): no Sphinx role
(``:meth:`x``` showed raw on the site), no reStructuredText literal block (``x::``
left a trailing ``::`` and cut a code block off at its first dedented line). The
page `docs/api.md` lists each package's `__all__` once, grouped: main classes,
functions, constants, exceptions. The built site itself is read back by
`docs/hooks/site_check.py` at every `hatch run docs:build`; its checks are tested here
on pages written for the purpose.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import yaml

from engines import REPO

SOURCES = sorted(
    [*REPO.glob("packages/*/src/**/*.py"), *(REPO / "examples").rglob("*.py")],
)
GROUPS = ["Main classes", "Functions", "Constants", "Exceptions"]
FENCE = re.compile(r"^(?P<indent> *)```")


def site_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("site_check", REPO / "docs" / "hooks" / "site_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def docstrings(path: Path) -> list[tuple[int, str]]:
    """(line, cleaned docstring) of the module, and of every class and function in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in [tree, *ast.walk(tree)]:
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node, clean=True)
            if text:
                found.append((getattr(node, "lineno", 1), text))
    return found


def test_the_sources_hold_docstrings_to_check() -> None:
    assert len(SOURCES) > 50
    assert sum(len(docstrings(path)) for path in SOURCES) > 500


def test_no_sphinx_role_in_the_sources() -> None:
    role = re.compile(r":(?:py:)?(?:meth|mod|func|class|attr|exc|data|obj|ref):`")
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in SOURCES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if role.search(line)
    ]

    assert [] == found, "write `name` or [`name`][phyper.name] (Markdown), not a Sphinx role"


def test_no_restructuredtext_literal_block_in_a_docstring() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line}: {text_line.strip()}"
        for path in SOURCES
        for line, text in docstrings(path)
        for text_line in text.splitlines()
        if text_line.rstrip().endswith("::")
    ]

    assert [] == found, "a code block in a docstring is fenced (```python ... ```), not introduced by '::'"


def test_every_fenced_block_of_a_docstring_is_closed_and_whole() -> None:
    problems = []
    for path in SOURCES:
        for line, text in docstrings(path):
            opened: int | None = None
            for text_line in text.splitlines():
                fence = FENCE.match(text_line)
                if fence:
                    opened = len(fence["indent"]) if opened is None else None
                elif opened is not None and text_line.strip() and len(text_line) - len(text_line.lstrip()) < opened:
                    problems.append(f"{path.relative_to(REPO)}:{line}: a line less indented than its fence")
            if opened is not None:
                problems.append(f"{path.relative_to(REPO)}:{line}: a fenced block is not closed")

    assert [] == problems


def api_groups() -> dict[str, list[tuple[str, list[str]]]]:
    """Package -> [(group title, members in order)] as docs/api.md lists them."""
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    groups: dict[str, list[tuple[str, list[str]]]] = {}
    title = ""
    for block in re.split(r"\n(?=#{2,3} |::: )", text):
        heading = re.match(r"### (?P<title>[^{\n]+?) *(\{[^}]*\})?\n", block)
        if heading:
            title = heading["title"]
        directive = re.match(r"::: (?P<package>\w+)\n(?P<options>(?:    .*\n?)+)", block)
        if directive:
            options = yaml.safe_load(directive["options"].replace("\n    ", "\n").removeprefix("    "))
            groups.setdefault(directive["package"], []).append((title, options["options"]["members"]))
    return groups


def kind(value: object) -> str:
    if inspect.isclass(value) and issubclass(value, BaseException):
        return "Exceptions"
    if inspect.isclass(value):
        return "Main classes"
    if callable(value):
        return "Functions"
    return "Constants"


def test_the_api_page_lists_every_public_name_once_in_its_group_and_in_order() -> None:
    groups = api_groups()

    assert ["phyper", "phyper_snakemake", "phyper_doit"] == list(groups)
    for package, package_groups in groups.items():
        module = importlib.import_module(package)
        listed = [name for _, members in package_groups for name in members]
        titles = [title for title, _ in package_groups]
        misplaced = [
            f"{package}.{name} is listed under {title!r}, it belongs under {kind(getattr(module, name))!r}"
            for title, members in package_groups
            for name in members
            if hasattr(module, name) and kind(getattr(module, name)) != title
        ]

        assert titles == [group for group in GROUPS if group in titles], f"{package}: groups out of order"
        assert sorted(module.__all__) == sorted(listed), (
            f"docs/api.md must list each name of {package}.__all__ exactly once: "
            f"missing {sorted(set(module.__all__) - set(listed))}, "
            f"not public {sorted(set(listed) - set(module.__all__))}, "
            f"twice {sorted({name for name in listed if listed.count(name) > 1})}"
        )
        assert [] == misplaced
    assert ("Main classes", ["Parser", "Pipeline"]) == (groups["phyper"][0][0], groups["phyper"][0][1][:2])


def test_the_site_excludes_the_build_hooks() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    hooks = {Path(hook).parent.relative_to("docs").as_posix() + "/" for hook in config["hooks"]}

    assert {"hooks/"} == hooks
    assert hooks <= set(config["exclude_docs"].split())


def test_the_site_check_names_each_problem_of_a_built_site(tmp_path: Path) -> None:
    check = site_check()
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "cli_reference.py").write_text("x = 1\n")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "index.html").write_text(
        '<h4 id="phyper.AGGREGATE_KEY" class="doc doc-heading">AGGREGATE_KEY</h4>\n'
        '<h4 id="phyper.Parser" class="doc doc-heading">Parser</h4>\n'
        '<h4 id="phyper.Parser.get_instances" class="doc doc-heading">get_instances</h4>\n'
        "<p>Resources as in :meth:<code>add_step</code>.</p>\n"
        "<p>A Snakefile of a few lines runs a whole pipeline::</p>\n"
        "<pre><code>import phyper_snakemake</code></pre>\n",
        encoding="utf-8",
    )
    (tmp_path / "index.html").write_text(
        "<p>Every <code>x[::2]</code> and <code>a::b</code> is fine.</p>\n<p>So is this:</p>\n", encoding="utf-8"
    )

    problems = check.site_problems(str(tmp_path))

    assert sorted(problems) == sorted(
        [
            "hooks/cli_reference.py: a Python file is published (exclude it with `exclude_docs` in mkdocs.yml)",
            "api/index.html: raw Sphinx role ':meth:add_step'",
            "api/index.html: reStructuredText literal-block marker '::' in "
            "'A Snakefile of a few lines runs a whole pipeline::'",
            "api: phyper's reference must open with ['phyper.Parser', 'phyper.Pipeline'], "
            "it opens with ['phyper.AGGREGATE_KEY', 'phyper.Parser']",
        ]
    )
