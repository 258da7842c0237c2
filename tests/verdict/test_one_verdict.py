"""One verdict everywhere: `phyper status`, `snakemake -n` and `doit list` name the same jobs.

The project is `tests/fixtures/scenarios`, written the way the README tells a newcomer
(keys, a non-key, a resource; a per-resource step, a batched per-instance step and an
aggregate), with its 7-line Snakefile and 4-line dodo.py. Every start of a step
appends a line to `starts.log`, so what a run does is counted on the step functions.

Each engine finishes the project once per module; every test works on a copy that
keeps file times (`shutil.copytree`, as `cp -a`), except where losing them is the point.
In every situation, the three tools plan the same engine jobs, a full run starts
exactly the jobs `phyper status` names (each once), and looking changes no file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from engines import BIN, REPO, copy_project, doit_plan, engine_command, environment, run, snakemake_plan, status_to_run

SCENARIOS = REPO / "tests" / "fixtures" / "scenarios"
SNAKEMAKE = str(BIN / "snakemake")
DOIT = str(BIN / "doit")
ALL_STARTS = Counter({"tabulate": 2, "fit": 12, "report": 1})

_finished: dict[str, Path] = {}


@pytest.fixture
def finished(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The project after a full run by ``backend`` (shared by the module: copy it)."""

    def get(backend: str) -> Path:
        if backend not in _finished:
            project = copy_project(SCENARIOS, tmp_path_factory.mktemp(f"scenarios-{backend}") / "scenarios")
            run(engine_command(backend, 2), project)
            assert ALL_STARTS == Counter(step for step, _ in starts(project))
            _finished[backend] = project
        return _finished[backend]

    return get


@pytest.fixture
def project(backend: str, finished: Callable[[str], Path], tmp_path: Path) -> Path:
    """A copy of the finished project (times kept) that the test may change."""
    return Path(shutil.copytree(finished(backend), tmp_path / "scenarios", symlinks=True))


# -- what each tool says ---------------------------------------------------------------------


def starts(project: Path) -> list[tuple[str, str]]:
    """(step, key) of every start of a step function, in order."""
    path = project / "starts.log"
    return [tuple(line.split()) for line in path.read_text().splitlines()] if path.exists() else []  # type: ignore[misc]



def engine_job_of(project: Path, **env: str) -> dict[str, str]:
    """Each job of the plan -> the engine job that runs it (its batch for a batched step)."""
    code = (
        "import json, pipeline\n"
        "print(json.dumps({job.id: f'{job.step}:{job.batch}' if job.batch else job.id "
        "for job in pipeline.pipeline.plan()}))"
    )
    return json.loads(run([sys.executable, "-c", code], project, environment(**env)).stdout)




def doit_groups_to_run(project: Path) -> set[str]:
    """The step group tasks `doit list --all --status` shows as to run."""
    listing = run([DOIT, "list", "--all", "--status"], project).stdout
    return {line.split()[1] for line in listing.splitlines() if line.startswith("R ") and ":" not in line.split()[1]}


def assert_one_verdict_then_run(backend: str, project: Path, **env: str) -> set[str]:
    """The three tools plan the same engine jobs; a full run starts exactly the jobs status
    names, each once; then every tool plans nothing. Returns the jobs that ran."""
    to_run = status_to_run(project, **env)
    mapping = engine_job_of(project, **env)
    engine_jobs = {mapping[job] for job in to_run}
    assert (engine_jobs, engine_jobs) == (snakemake_plan(project, **env), doit_plan(project, **env))
    before = len(starts(project))
    run(engine_command(backend, 2), project, environment(**env))
    ran = Counter(f"{step}:{key}" for step, key in starts(project)[before:])
    assert Counter(to_run) == ran
    assert (set(), set(), set()) == (status_to_run(project, **env), snakemake_plan(project, **env), doit_plan(project, **env))
    return to_run


def edit(project: Path, old: str, new: str) -> None:
    config = project / "config.py"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


# -- the everyday situations of issue 15 -------------------------------------------------------


def test_a_finished_project_plans_nothing_and_no_group_task_is_to_run(backend: str, project: Path) -> None:
    assert set() == assert_one_verdict_then_run(backend, project)
    assert set() == doit_groups_to_run(project)


def test_after_adding_a_key_and_migrating_every_tool_plans_nothing(backend: str, project: Path) -> None:
    edit(project, "    seed = 0\n", "    seed = 0\n    method = 'plain'\n")
    run([sys.executable, "-m", "phyper", "migrate", "--apply"], project)

    assert set() == assert_one_verdict_then_run(backend, project)


def test_after_shrinking_the_grid_and_gc_only_the_aggregate_runs(backend: str, project: Path) -> None:
    # 12 instances in 4 batches become 8 in 2: new batch keys, every member complete
    edit(project, "'seed': [0, 1, 2]", "'seed': [0, 1]")
    run([sys.executable, "-m", "phyper", "gc", "--delete"], project)

    assert {"report:all"} == assert_one_verdict_then_run(backend, project)


def test_after_growing_the_grid_only_the_new_jobs_and_the_aggregate_run(backend: str, project: Path) -> None:
    old = set(engine_job_of(project))
    edit(project, "'seed': [0, 1, 2]", "'seed': [0, 1, 2, 3]")

    ran = assert_one_verdict_then_run(backend, project)

    new = set(engine_job_of(project)) - old
    assert 4 == len(new) and {"fit"} == {job.split(":")[0] for job in new}
    assert new | {"report:all"} == ran


@pytest.mark.parametrize("batch", ["fit=2", "fit=0"])
def test_after_changing_the_batch_size_every_tool_plans_nothing(backend: str, project: Path, batch: str) -> None:
    assert set() == assert_one_verdict_then_run(backend, project, PHYPER_BATCH=batch)


def test_after_deleting_one_model_its_batch_runs_only_that_model(backend: str, project: Path) -> None:
    victim = next(key for step, key in starts(project) if step == "fit")
    (project / "derived_data" / "all" / victim / "fit.json").unlink()

    assert {f"fit:{victim}", "report:all"} == assert_one_verdict_then_run(backend, project)


# -- looking changes nothing ---------------------------------------------------------------------

# What looking may write, none of it phyper's state (see docs/guarantees.md): phyper's plan
# cache, on purpose (the next look starts fast); Snakemake's inventory of file times, which
# it writes on every dry run. And doit creates its (empty) database where doit never ran.
LOOKING_MAY_WRITE = (os.path.join("derived_data", ".phyper", "plan-cache", ""), os.path.join(".snakemake", "iocache", ""))
DOIT_DATABASE = ".doit.db"


def snapshot(project: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under the project, what looking may write aside."""
    files: dict[str, tuple[int, int]] = {}
    for parent, _, names in os.walk(project):
        for name in names:
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, project)
            if not relative.startswith(LOOKING_MAY_WRITE):
                info = os.lstat(path)
                files[relative] = (info.st_size, info.st_mtime_ns)
    return files


def unchanged_by(command: list[str], project: Path) -> bool:
    before = snapshot(project)
    # `doit info` exits 1 for a task that is not up to date
    run(command, project, check=command[1] != "info")
    after = snapshot(project)
    if DOIT_DATABASE not in before:
        after.pop(DOIT_DATABASE, None)
    return before == after


def test_looking_changes_no_file_even_with_invalid_records(backend: str, project: Path) -> None:
    # invalid records of every kind: a grid value removed (the aggregate's inputs and the
    # batches change), one output deleted, one output rewritten with other bytes
    edit(project, "'seed': [0, 1, 2]", "'seed': [0, 1]")
    in_grid = sorted(job.split(":")[1] for job in engine_job_of(project) if job.startswith("fit:"))
    first, second, third = (project / "derived_data" / "all" / key for key in in_grid[:3])
    (first / "fit.json").unlink()
    (second / "fit.json").write_text('{"value": -1}')
    looks = [
        [sys.executable, "-m", "phyper", "status", "-v"],
        [sys.executable, "-m", "phyper", "ls"],
        [sys.executable, "-m", "phyper", "show", third.name[:8]],
        [sys.executable, "-m", "phyper", "plan"],
        [SNAKEMAKE, "-n"],
        [SNAKEMAKE, "-n", "-R", "fit"],
        [SNAKEMAKE, "-n", "-F"],
        [DOIT, "list", "--all", "--status"],
        [DOIT, "info", "report:all"],
    ]
    for command in looks:
        assert unchanged_by(command, project), " ".join(command)

    # and what they saw was to run, by the verdict of the records they left alone
    assert_one_verdict_then_run(backend, project)


# -- content is the truth when times lie ---------------------------------------------------------


def test_a_copy_that_lost_every_file_time_plans_and_runs_nothing(backend: str, finished: Callable[[str], Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(finished(backend)), str(copy)], check=True)
    subprocess.run(["find", str(copy), "-type", "f", "-exec", "touch", "{}", "+"], check=True)
    record = next((copy / "derived_data" / ".phyper" / "done" / "report").glob("*.json"))
    assert str(tmp_path) not in record.read_text() and str(finished(backend)) not in record.read_text()

    assert set() == assert_one_verdict_then_run(backend, copy)
    assert set() == doit_groups_to_run(copy)


def test_a_project_moved_to_another_folder_plans_and_runs_nothing(backend: str, project: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "scenarios"
    moved.parent.mkdir()
    subprocess.run(["mv", str(project), str(moved)], check=True)

    assert set() == assert_one_verdict_then_run(backend, moved)


def test_an_upstream_rerun_that_writes_other_bytes_reruns_what_follows(backend: str, project: Path) -> None:
    table = next((project / "derived_data" / "table").iterdir()) / "table.json"
    table.write_text("[1, 2, 3]")  # as a rerun with other code would
    fits = {job for job in engine_job_of(project) if job.startswith("fit:")}

    ran = assert_one_verdict_then_run(backend, project)

    tabulate = {job for job in ran if job.startswith("tabulate:")}
    assert 1 == len(tabulate)
    # the table is made again (its output changed), then the fits that read it
    assert 6 == len(ran & fits) and "report:all" in ran


# -- forcing a step ------------------------------------------------------------------------------


def force(backend: str, project: Path, step: str, **env: str) -> None:
    """Force ``step`` the way the README says, then run what follows as a user would."""
    if backend == "snakemake":
        run([SNAKEMAKE, "-j2", "-R", step], project, environment(**env))
    else:
        run([DOIT, "-n", "2", "-a", step], project, environment(**env))
        run([DOIT, "-n", "2"], project, environment(**env))


def test_forcing_a_step_reruns_it_and_what_follows_never_its_upstream(backend: str, project: Path) -> None:
    # the README's reason to force: results made with other non-key values
    before = len(starts(project))

    force(backend, project, "fit", PHYPER_NON_KEYS="scale=2")

    assert Counter({"fit": 12, "report": 1}) == Counter(step for step, _ in starts(project)[before:])
    assert (set(), set(), set()) == (
        status_to_run(project, PHYPER_NON_KEYS="scale=2"),
        snakemake_plan(project, PHYPER_NON_KEYS="scale=2"),
        doit_plan(project, PHYPER_NON_KEYS="scale=2"),
    )


def test_snakemake_plans_a_forced_step_and_its_downstream_only(project: Path) -> None:
    fits = {engine_job for job, engine_job in engine_job_of(project).items() if job.startswith("fit:")}

    assert fits | {"report:all"} == snakemake_plan(project, "-R", "fit")
    assert {"report:all"} == snakemake_plan(project, "-R", "report")
