"""A search's state damaged any way: every command answers, no trial is dropped silently (docs/state-files.md).

The search toy (tests/fixtures/search_toy) runs three trials with doit once per module.
Hypothesis then damages a trial record or the study's journal per example: cut at any
byte, a byte replaced, other valid JSON of the wrong shape, a newer format version (a
record), an empty file, a folder in the file's place. ``phyper search show --json`` and
``phyper status`` run as real subprocesses and must answer: with the trials the study
holds and one warning naming the damaged record, or one line naming the error
(`StateFormatError` for a newer record, `DamagedStudyError` for a journal Optuna cannot
read), never a traceback. A fixed sample then shows ``phyper search run`` repairing it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines import REPO, copy_project, environment, run

pytestmark = pytest.mark.doit

TOY = REPO / "tests" / "fixtures" / "search_toy"
SEARCH = Path("derived_data") / ".phyper" / "search" / "search"
TRIALS = 3
EXAMPLES = int(os.environ.get("PHYPER_FUZZ_EXAMPLES", "30")) // 3
"""Damaged states tried per file kind (subprocesses with Optuna: a third of the state fuzz's count)."""
NAMED_ERROR_LINE = ("phyper: StateFormatError: ", "phyper: DamagedStudyError: ")


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(TOY, tmp_path_factory.mktemp("searched") / "pristine")
    run([sys.executable, "-m", "phyper", "search", "run", "--trials", str(TRIALS), "--engine", "doit"], project)
    return project


Damage = tuple[str, Callable[[Path], None]]


def _cut(at: int) -> Damage:
    def damage(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: at % max(len(data), 1)])

    return f"cut at {at}", damage


def _replace(at: int, byte: int) -> Damage:
    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[at % len(data)] = byte
        path.write_bytes(bytes(data))

    return f"byte {at} := {byte}", damage


def _content(text: str) -> Damage:
    return f"content {text[:40]!r}", lambda path: path.write_text(text)


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _newer(path: Path) -> None:
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "format": 99, "phyper_version": "9.0.0"}))


WRONG_RECORDS = ['[]', '"point"', '{"format": 2}', '{"format": 2, "hash": 1, "params": {}}',
                 '{"format": 2, "hash": "abc", "params": []}', '{"format": "2", "hash": "abc", "params": {}}']
WRONG_JOURNALS = ['[]\n', '{"op_code": 4}\n', 'not json\n']


def damages(kind: str) -> st.SearchStrategy[Damage]:
    common = [
        st.builds(_cut, st.integers(0, 4000)),
        st.builds(_replace, st.integers(0, 4000), st.integers(0, 255)),
        st.just(("empty", lambda path: path.write_bytes(b""))),
        st.just(("a folder in its place", _folder)),
    ]
    if kind == "record":
        return st.one_of(*common, st.sampled_from(WRONG_RECORDS).map(_content), st.just(("newer format", _newer)))
    return st.one_of(*common, st.sampled_from(WRONG_JOURNALS).map(_content))


def fresh_copy(searched: Path, destination: Path) -> Path:
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(searched, destination, symlinks=True)
    return destination


def target(project: Path, kind: str) -> Path:
    if kind == "journal":
        return project / SEARCH / "journal.log"
    return sorted((project / SEARCH / "trials").glob("*.json"))[0]


def phyper(project: Path, *words: str) -> Any:
    return run([sys.executable, "-m", "phyper", *words], project, environment(), check=False)


def a_valid_record(path: Path) -> bool:
    """Whether the file still reads as a record of its own point (a replaced byte may leave it so)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(data, dict) and data.get("format") in (1, 2, 3) and data.get("hash") == path.stem
            and isinstance(data.get("params"), dict) and {"scale", "x", "depth"} == set(data["params"]))


def check(project: Path, kind: str, path: Path, name: str) -> None:
    for words in (("search", "show", "--json"), ("status",)):
        completed = phyper(project, *words)
        where = f"{kind} damaged ({name}): phyper {' '.join(words)}"
        assert "Traceback" not in completed.stderr, f"{where}\n{completed.stderr}"
        if completed.returncode != 0:
            assert 2 == completed.returncode, where
            lines = completed.stderr.splitlines()
            assert 1 == len(lines) and lines[0].startswith(NAMED_ERROR_LINE), f"{where}\n{completed.stderr}"
            assert str(path.relative_to(project)) in lines[0], where
            assert (kind, name) in (("record", "newer format"), ("journal", name)), f"{where}\n{completed.stderr}"
            continue
        assert name != "newer format", f"{where}: a record in a newer format must stop the command"
        if kind == "record" and not a_valid_record(path):
            assert f"phyper: warning: damaged trial record: {path.relative_to(project)}" in completed.stderr, where
        if words[0] == "search":
            shown = json.loads(completed.stdout)
            numbers = [trial["number"] for trial in shown["trials"]]
            if kind == "record":
                assert list(range(TRIALS)) == numbers, f"{where}: the study keeps every trial"
            elif numbers != list(range(TRIALS)):
                # Optuna skips a journal's line cut short, and what follows it: the points it lost are named
                assert "phyper: warning: the study of search `search` has no trial for" in completed.stderr, where


@pytest.mark.parametrize("kind", ["record", "journal"])
def test_every_search_command_on_damaged_search_state(searched: Path, tmp_path_factory: pytest.TempPathFactory,
                                                      kind: str) -> None:
    workspace = tmp_path_factory.mktemp(f"damaged-{kind}")

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(damage=damages(kind))
    def example(damage: Damage) -> None:
        name, apply = damage
        project = fresh_copy(searched, workspace / "project")
        path = target(project, kind)
        apply(path)
        check(project, kind, path, name)

    example()


@pytest.mark.parametrize("name", ["cut", "wrong shape", "a folder in its place"])
def test_search_run_writes_a_damaged_record_again_from_the_study(searched: Path, tmp_path: Path, name: str) -> None:
    project = fresh_copy(searched, tmp_path / "project")
    path = target(project, "record")
    pristine = json.loads(path.read_text())
    {"cut": _cut(20)[1], "wrong shape": _content('{"format": 2}')[1], "a folder in its place": _folder}[name](path)
    before = (project / "executions.txt").read_text()

    completed = run([sys.executable, "-m", "phyper", "search", "run", "--trials", str(TRIALS + 1), "--engine", "doit"],
                    project, environment())
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)

    assert "phyper: warning: damaged trial record" in completed.stderr
    assert (pristine["hash"], pristine["params"]) == (json.loads(path.read_text())["hash"], json.loads(path.read_text())["params"])
    assert list(range(TRIALS + 1)) == [trial["number"] for trial in shown["trials"]]
    assert not any(trial["stale"] for trial in shown["trials"])
    assert (project / "executions.txt").read_text().startswith(before), "nothing that was done ran again"
