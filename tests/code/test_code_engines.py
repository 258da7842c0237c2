"""Code changes with both engines, counting real executions of the steps.

The project (``tests/fixtures/code_changes``) is written the way the README tells a
newcomer: ``helpers.py`` used by two steps (``prepare`` calls ``normalise``,
``summarise`` calls ``peak``), ``plots.py`` used by ``plot`` only, and ``model.py``
whose class ``Model`` is trained by ``train``. Each step appends its name to
``starts.log``. One finished run per engine is shared by the module; each test edits
a copy.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

from engines import BIN, REPO, copy_project, environment, run, run_engine

FIXTURE = REPO / "tests" / "fixtures" / "code_changes"
RECORDS = Path("derived_data") / ".phyper" / "done"
_finished: dict[str, Path] = {}


@pytest.fixture
def project(backend: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A copy (file times kept) of the project on which ``backend`` ran everything once."""
    if backend not in _finished:
        finished = copy_project(FIXTURE, tmp_path_factory.mktemp(f"code-{backend}") / "project")
        run_engine(backend, finished, jobs=4)
        assert Counter({"prepare": 2, "train": 4, "summarise": 1, "plot": 1}) == starts(finished)
        _finished[backend] = finished
    copy = tmp_path / "project"
    shutil.copytree(_finished[backend], copy, symlinks=True)
    (copy / "starts.log").write_text("")
    return copy


def starts(project: Path) -> Counter[str]:
    return Counter((project / "starts.log").read_text().split())


def run_again(backend: str, project: Path) -> Counter[str]:
    """Run the engine over the whole pipeline; the steps that really started."""
    (project / "starts.log").write_text("")
    run_engine(backend, project, jobs=4)
    return starts(project)


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / name
    text = path.read_text()
    assert old in text, f"{old!r} is not in {name}"
    path.write_text(text.replace(old, new, 1))


def phyper(project: Path, *arguments: str) -> str:
    return run([sys.executable, "-m", "phyper", *arguments], project, environment()).stdout


def test_comments_docstrings_formatting_and_a_non_key_default_run_nothing(backend: str, project: Path) -> None:
    edit(project, "helpers.py", '    """Scale values to [0, 1]."""\n', "    # scale to [0, 1]\n\n")
    edit(project, "helpers.py", "    return max(values)", "    return max(\n        values\n    )  # the top")
    edit(project, "model.py", "class Model:\n", 'class Model:\n    """A linear model."""\n\n')
    edit(project, "plots.py", '"""Figures."""', '"""Figures, as text."""\n# nothing else changed')
    edit(project, "pipeline.py", '    """Train one model."""\n', "    # train one model\n")
    edit(project, "config.py", "n_epochs = 3", "n_epochs = 5")
    assert "" == phyper(project, "status", "pipeline:pipeline", "-v").split("plot: 1/1 complete\n", 1)[1].split(
        "warning:"
    )[0]
    assert Counter() == run_again(backend, project)


def test_each_edit_runs_exactly_the_steps_that_reach_it_and_what_follows(backend: str, project: Path) -> None:
    edit(project, "helpers.py", "return max(values)", "return max(values) * 2")
    assert "summarise: 1 job(s) made by older code (helpers.peak changed)" in phyper(project, "status", "-v")
    assert Counter({"summarise": 1, "plot": 1}) == run_again(backend, project)

    edit(project, "plots.py", "'#' * int(score)", "'*' * int(score)")
    assert Counter({"plot": 1}) == run_again(backend, project)

    edit(project, "model.py", "return self.weight * x + self.size", "return self.weight * x - self.size")
    status = phyper(project, "status", "-v")
    assert "train: 4 job(s) made by older code (model.Model.forward changed)" in status
    assert "train: 0/4 complete, 4 to run" in status
    assert Counter({"train": 4, "summarise": 1, "plot": 1}) == run_again(backend, project)

    edit(project, "helpers.py", "return [value / top for value in values]", "return [value / top / 2 for value in values]")
    assert "prepare: 2 job(s) made by older code (helpers.normalise changed)" in phyper(project, "status", "-v")
    assert Counter({"prepare": 2, "train": 4, "summarise": 1, "plot": 1}) == run_again(backend, project)
    assert Counter() == run_again(backend, project)


def test_a_new_grid_value_runs_only_the_new_jobs(backend: str, project: Path) -> None:
    edit(project, "config.py", "'size': [1, 2]", "'size': [1, 2, 3]")
    assert Counter({"train": 2, "summarise": 1, "plot": 1}) == run_again(backend, project)


def test_records_written_before_code_was_tracked_count_as_todays_code(backend: str, project: Path) -> None:
    for path in (project / RECORDS).rglob("*.json"):
        record = json.loads(path.read_text())
        record.pop("code", None)
        path.write_text(json.dumps(record))
    assert "to run" not in phyper(project, "status", "-v")
    assert Counter() == run_again(backend, project)
    # looking and running changed no record
    assert all("code" not in json.loads(path.read_text()) for path in (project / RECORDS).rglob("*.json"))
