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
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engines import BIN, REPO, copy_project, environment, run, run_engine

SNAKEMAKE, DOIT = str(BIN / "snakemake"), str(BIN / "doit")

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

    # the code store: each step's code of each run once, each distinct source once
    store = project / "derived_data" / ".phyper" / "code"
    manifests = [json.loads(path.read_text()) for path in (store / "steps").glob("*.json")]
    digests = {digest for manifest in manifests for digest in manifest["functions"].values()}
    assert 4 + 1 + 1 + 1 + 1 == len(manifests)  # the first run's, then summarise, plot, train, prepare anew
    assert sorted(f"{digest}.py" for digest in digests) == sorted(path.name for path in (store / "sources").iterdir())


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


def to_run_by_tool(project: Path, snakemake: bool = True) -> dict[str, set[str]]:
    """The steps whose jobs each tool would run now: phyper status, snakemake -n, doit list --status."""
    status = phyper(project, "status", "-v").splitlines()
    listed = {line.split(": ", 1)[0].strip() for line in status if line.startswith("  ") and ": " in line}
    dry = run([SNAKEMAKE, "-n"], project).stdout if snakemake else "Nothing to be done"
    # the "Job stats" table, down to its total
    table = "" if "Nothing to be done" in dry else dry[dry.index("Job stats:"):].split("\ntotal")[0]
    rows = [line.split() for line in table.splitlines()]
    rules = {row[0] for row in rows if len(row) == 2 and row[1].isdigit() and row[0] not in ("total", "all")}
    listing = run([DOIT, "list", "--all", "--status"], project).stdout.splitlines()
    tasks = {line.split()[1] for line in listing if line.startswith("R ") and ":" in line.split()[1]}
    found = {"status": {job.split(":")[0] for job in listed}, "snakemake": rules, "doit": {t.split(":")[0] for t in tasks}}
    return found if snakemake else {tool: steps for tool, steps in found.items() if tool != "snakemake"}


@pytest.mark.snakemake
@pytest.mark.doit
@pytest.mark.parametrize("backend", ["snakemake"], indirect=True)  # its finished project; both engines run on it
def test_accept_makes_every_tool_plan_nothing_and_show_diffs_the_code(backend: str, project: Path) -> None:
    edit(project, "model.py", "return self.weight * x + self.size", "return self.weight * x + 2 * self.size")
    edit(project, "plots.py", "'#' * int(score)", "'=' * int(score)")
    model_hash = sorted(path.name for path in (project / "derived_data" / "all").iterdir())[0]
    shown = phyper(project, "show", model_hash)
    assert "(older code: model.Model.forward changed; `phyper show HASH --code-diff` shows how)" in shown
    diff = phyper(project, "show", model_hash, "--code-diff").splitlines()
    assert [
        "--- model.Model.forward (made the result)",
        "+++ model.Model.forward (today)",
        "@@ -1,2 +1,2 @@",
        " def forward(self, x):",
        "-    return self.weight * x + self.size",
        "+    return self.weight * x + 2 * self.size",
    ] == diff[1:]

    # looking deletes nothing (snakemake -n included), so every tool can be asked first
    expected = {"train", "summarise", "plot"}
    assert {"status": expected, "snakemake": expected, "doit": expected} == to_run_by_tool(project)

    record = project / RECORDS / "train" / f"{model_hash}.json"
    mtime = record.stat().st_mtime_ns
    outputs = {path: path.stat().st_mtime_ns for path in (project / "derived_data").rglob("*.json") if ".phyper" not in path.parts}
    assert "train: accepted today's code for 4 job(s)" == phyper(project, "accept", "train").strip()
    # plot is left as it is: only the steps named are accepted
    assert {"status": {"plot"}, "doit": {"plot"}} == to_run_by_tool(project, snakemake=False)
    assert ["plot: accepted today's code for 1 job(s)"] == phyper(project, "accept").strip().splitlines()[-1:]
    empty: set[str] = set()
    assert {"status": empty, "snakemake": empty, "doit": empty} == to_run_by_tool(project)
    assert (mtime, outputs) == (
        record.stat().st_mtime_ns,
        {path: path.stat().st_mtime_ns for path in outputs},
    )
    assert "(today's code)" in phyper(project, "show", model_hash)
    assert Counter() == run_again("doit", project)
    assert Counter() == run_again("snakemake", project)


def test_track_code_false_leaves_code_out_of_the_verdict(backend: str, project: Path) -> None:
    edit(project, "pipeline.py", "@pipeline.aggregate(inputs=[summary_path], outputs=[figure_path])",
         "@pipeline.aggregate(inputs=[summary_path], outputs=[figure_path], track_code=False)")
    edit(project, "plots.py", "'#' * int(score)", "'=' * int(score)")
    assert Counter() == run_again(backend, project)
    edit(project, "pipeline.py", "pipeline = phyper.Pipeline(instances)", "pipeline = phyper.Pipeline(instances, track_code=False)")
    edit(project, "model.py", "return self.weight * x + self.size", "return self.weight * x + 2 * self.size")
    assert Counter() == run_again(backend, project)


@pytest.mark.parametrize("backend", ["doit"], indirect=True)  # looking only: one finished project is enough
def test_code_phyper_cannot_follow_is_a_named_warning_per_step(backend: str, project: Path) -> None:
    edit(project, "helpers.py", "    return max(values)", "    name = 'max'\n    return getattr(__import__('builtins'), name)(values)")
    lines = phyper(project, "status").splitlines()
    assert [
        "warning: summarise: code phyper cannot follow (1); changes there do not rerun it:",
        "  helpers.peak uses getattr with a computed name (line 13): the code it reaches is not tracked",
    ] == lines[-2:]
    assert "summarise: 1 job(s) made by older code (helpers.peak changed)" in lines


@pytest.mark.parametrize("backend", ["doit"], indirect=True)  # looking only: one finished project is enough
def test_a_damaged_code_store_loses_only_the_names_of_what_changed(backend: str, project: Path) -> None:
    edit(project, "model.py", "return self.weight * x + self.size", "return self.weight * x + 2 * self.size")
    store = project / "derived_data" / ".phyper" / "code"
    manifests = sorted((store / "steps").glob("*.json"))
    sources = sorted((store / "sources").glob("*.py"))
    assert manifests and sources
    for manifest in manifests:
        manifest.write_text('{"digest": 5}')  # valid JSON, wrong shape
    for source in sources:
        source.unlink()
        os.mkfifo(source)  # a plain open() would wait on it for ever
    model_hash = sorted(path.name for path in (project / "derived_data" / "all").iterdir())[0]

    # subprocesses with a limit: a reader blocked on a FIFO fails the test instead of hanging it
    def looked(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "phyper", *arguments], cwd=project, env=environment(),
                              capture_output=True, text=True, timeout=600)

    status, diff = looked("status", "-v"), looked("show", model_hash, "--code-diff")

    # the records' digests still decide; only the names of what changed are unknown
    assert (0, 0) == (status.returncode, diff.returncode), status.stderr + diff.stderr
    assert "Traceback" not in status.stderr + diff.stderr
    assert "train: 4 job(s) made by older code (its stored code is gone: what changed is unknown)" in (
        status.stdout.splitlines()
    )
    expected = {"train", "summarise", "plot"}
    assert {"status": expected, "snakemake": expected, "doit": expected} == to_run_by_tool(project)
