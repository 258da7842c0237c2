"""One answer to "is it done?": every module asks the pipeline's verdicts, none a record alone.

The record-only checks (``check_job``, ``check_batch``, ``state_of_record``) judged a job
from its completion record, blind to the step's code, upstream jobs and forcing; the
search took them and told Optuna objectives made by older code. Every Python file of the
repository (the three packages, tests, benchmarks, the example) is parsed with `ast`
(nothing is imported): none may name them, and none makes a state folder's owner from a
record's path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import phyper
from engines import REPO

REMOVED = {"check_job", "check_batch", "state_of_record"}
STATE_OWNERS = {"LocalStateFolder", "StateStore"}
"""The state folder's owner: made from a declared folder, never from a record's path."""
FOLDERS = ("packages", "tests", "benchmarks", "examples")


def python_files() -> list[Path]:
    files = []
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = set(path.relative_to(REPO).parts)
            if not parts & {".venv", "build", "dist", "views", "derived_data", "__pycache__"}:
                files.append(path)
    return files


def offences(path: Path, text: str | None = None) -> list[str]:
    """``line: what`` for each use of a removed check, or a state owner a package module makes itself."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text, str(path))
    found = [
        f"{node.lineno}: defines {node.name}"
        for node in tree.body  # a module-level function (`Records.check_batch`, a method, is the verdicts' own)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in REMOVED
    ]
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute) and not (
            isinstance(node.value, ast.Attribute | ast.Name)
            and getattr(node.value, "attr", getattr(node.value, "id", "")) in {"records", "_records"}
        ):
            # `records.check_batch` is the method of the verdicts' own records owner, not the removed function
            name = node.attr
        elif isinstance(node, ast.ImportFrom):
            found += [f"{node.lineno}: imports {alias.name}" for alias in node.names if alias.name in REMOVED]
        if name in REMOVED and isinstance(node, ast.expr):  # a name or an attribute: both have a line
            found.append(f"{node.lineno}: uses {name}")
        if isinstance(node, ast.Call):
            called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if called in STATE_OWNERS and any(_from_a_record(argument) for argument in node.args):
                found.append(f"{node.lineno}: makes a {called} from a record's path")
    return sorted(found, key=lambda line: int(line.split(":")[0]))


def _from_a_record(argument: ast.expr) -> bool:
    """Whether an argument is derived from a record's path (a `dirname`, or a name that says record)."""
    for node in ast.walk(argument):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "dirname":
            return True
        named = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        if "record" in named:
            return True
    return False


def test_the_reader_finds_each_trap() -> None:
    source = REPO / "packages" / "caller.py"  # read from the string below: nothing is written there
    text = (
        "import phyper\n"
        "from phyper._state.records import check_job\n"
        "phyper.check_batch(batch, members)\n"
        "state = LocalStateFolder(os.path.dirname(record))\n"
        "verdicts.records.check_batch(batch, members)\n"
        "state = LocalStateFolder(default_state_folder(root))\n"
        "def state_of_record(path):\n    return LocalStateFolder(job.record[:-30])\n"
    )

    assert [
        "2: imports check_job", "3: uses check_batch", "4: makes a LocalStateFolder from a record's path",
        "7: defines state_of_record", "8: makes a LocalStateFolder from a record's path",
    ] == offences(source, text)


@pytest.mark.parametrize("path", python_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_no_module_answers_from_a_record_alone(path: Path) -> None:
    assert [] == offences(path)


@pytest.mark.parametrize("name", ["check_job", "check_batch"])
def test_an_old_name_is_a_named_error_that_names_the_verdicts(name: str) -> None:
    with pytest.raises(phyper.RemovedNameError, match=rf"phyper\.{name} was removed: .*phyper\.Verdicts\(pipeline\.plan\(\)\)"):
        getattr(phyper, name)
    assert name not in phyper.__all__
