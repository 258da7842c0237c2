"""phyper search run with each engine on a toy of known optimum (tests/fixtures/search_toy).

Each step appends a line to the project's ``executions.txt`` when it has written its
outputs: the lines are the real executions, counted against the distinct hashes of
what the trials need.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from engines import REPO, copy_project, engine_command, environment, run

TOY = REPO / "tests" / "fixtures" / "search_toy"
OPTIMUM = 1.0  # scale='b', x=0.3, depth=2
TOLERANCE = 0.1


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(TOY, tmp_path / "search_toy")


def search_command(backend: str, trials: int, jobs: int = 2) -> list[str]:
    return [sys.executable, "-m", "phyper", "search", "run", "--trials", str(trials), "--engine", backend, "-j", str(jobs)]


def search_run(project: Path, backend: str, trials: int, jobs: int = 2, **env: str) -> subprocess.CompletedProcess[str]:
    return run(search_command(backend, trials, jobs), project, environment(**env))


def show(project: Path, **env: str) -> dict[str, Any]:
    shown = run([sys.executable, "-m", "phyper", "search", "show", "--json"], project, environment(**env))
    return dict(json.loads(shown.stdout))


def executions(project: Path) -> Counter[tuple[str, str]]:
    path = project / "executions.txt"
    lines = path.read_text().split() if path.exists() else []
    return Counter(zip(lines[0::2], lines[1::2]))


def needed(trials: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(step, hash) of every job the trials' instances need, from phyper's own hashes."""
    sys.path.insert(0, str(TOY))
    try:
        import config  # the toy's parser: the hashes are the model's, not the driver's
    finally:
        sys.path.remove(str(TOY))
        config_module = sys.modules.pop("config")
    jobs: set[tuple[str, str]] = set()
    for trial in trials:
        for fold in (0, 1):
            instance = config_module.parser.get_instance(scale=trial["scale"], x=trial["x"], depth=trial["depth"], fold=fold)
            jobs.add(("preprocess", instance.get_instance_hash("preprocessed")))
            jobs.add(("train", instance.get_instance_hash()))
    del config
    return jobs


def test_the_search_finds_the_optimum_and_runs_each_resource_once(project: Path, backend: str) -> None:
    completed = search_run(project, backend, 16)
    shown = show(project)
    trials = shown["trials"]

    assert 16 == len(trials)
    assert {"complete"} == {trial["state"] for trial in trials}
    assert OPTIMUM - TOLERANCE <= shown["best"]["objective"] <= OPTIMUM, completed.stdout
    assert ("b", 2) == (shown["best"]["scale"], shown["best"]["depth"])
    # one execution per distinct resource hash: 3 scales at most, however many trials
    assert {1} == set(executions(project).values())
    assert needed(trials) == set(executions(project))
    assert len({trial["scale"] for trial in trials}) == sum(step == "preprocess" for step, _ in executions(project))
    status = run([sys.executable, "-m", "phyper", "status"], project).stdout
    # the trials are instances of the pipeline: every trial's jobs complete, only the grid's two to run
    assert "preprocess: 3/3 complete" in status or "preprocess: 3/4 complete" in status
    assert f"train: {2 * len({t['hash'] for t in trials})}/" in status
    # and gc keeps their folders (outside the two-instance grid, they would be orphans)
    gc = run([sys.executable, "-m", "phyper", "gc"], project).stdout
    assert "would delete 0 folder(s) and 0 completion record(s)" in gc


def enqueue(project: Path, params: dict[str, Any]) -> None:
    """Optuna's own way to propose a point again (duplicates of enqueued trials are intended, optuna #6073)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    path = str(project / "derived_data" / ".phyper" / "search" / "search" / "journal.log")
    storage = JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    optuna.load_study(study_name="search", storage=storage).enqueue_trial(params, skip_if_exists=False)


def test_duplicate_proposals_are_answered_from_the_records(project: Path, backend: str) -> None:
    search_run(project, backend, 3)
    before = executions(project)
    first = {trial["number"]: trial for trial in show(project)["trials"]}
    for number in (0, 2):
        enqueue(project, {key: first[number][key] for key in ("scale", "x", "depth")})
    again = search_run(project, backend, 5)
    shown = {trial["number"]: trial for trial in show(project)["trials"]}

    assert before == executions(project), "nothing ran a second time"
    assert 2 == again.stdout.count("from the records, no job"), again.stdout
    assert [0, 1, 2, 3, 4] == sorted(shown)
    assert [first[0]["hash"], first[2]["hash"]] == [shown[3]["hash"], shown[4]["hash"]]
    assert [first[0]["objective"], first[2]["objective"]] == [shown[3]["objective"], shown[4]["objective"]]


@pytest.mark.doit
def test_a_continued_study_does_not_replay_the_seeded_samplers_first_points(project: Path) -> None:
    search_run(project, "doit", 2)
    continued = search_run(project, "doit", 4)
    shown = show(project)["trials"]

    assert 0 == continued.stdout.count("from the records"), continued.stdout
    assert 4 == len({trial["hash"] for trial in shown})


def test_a_failing_trial_is_told_failed_and_the_search_goes_on(project: Path, backend: str) -> None:
    completed = search_run(project, backend, 6, SEARCH_TOY_FAIL_ABOVE="0.5")
    trials = show(project)["trials"]

    assert 6 == len(trials)
    assert [t["x"] > 0.5 for t in trials] == [t["state"] == "failed" for t in trials], completed.stdout
    assert any(t["state"] == "failed" for t in trials) and any(t["state"] == "complete" for t in trials)
    assert all((t["objective"] is None) == (t["state"] == "failed") for t in trials)
    assert {1} == set(executions(project).values())


def wait_until(condition: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_kill_9_then_the_same_command_continues_to_n_trials(project: Path, backend: str) -> None:
    command = search_command(backend, 6)
    env = environment(SEARCH_TOY_SLEEP="1")
    driver = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # killed once its first trials are recorded and their engines run, before any is told
    trials_folder = project / "derived_data" / ".phyper" / "search" / "search" / "trials"
    wait_until(lambda: len(list(trials_folder.glob("*.json"))) >= 2, "two trials to be recorded")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    resumed = run(command, project, env)
    shown = show(project)

    numbers = sorted(trial["number"] for trial in shown["trials"])
    assert list(range(6)) == numbers, resumed.stdout
    assert {"complete"} == {trial["state"] for trial in shown["trials"]}
    assert {1} == set(executions(project).values()), "no step of any instance executed twice"
    assert needed(shown["trials"]) == set(executions(project))


def test_two_drivers_at_once_execute_nothing_twice(project: Path, backend: str) -> None:
    env = environment(SEARCH_TOY_SLEEP="0.3")
    drivers = [
        subprocess.Popen(search_command(backend, 6), cwd=project, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [driver.communicate()[0] for driver in drivers]
    shown = show(project)

    assert [0, 0] == [driver.returncode for driver in drivers], outputs
    assert 6 <= len(shown["trials"]) <= 6 + 2 * 2, "each driver asks only while the study holds fewer than N"
    assert {"complete"} == {trial["state"] for trial in shown["trials"]}
    assert {1} == set(executions(project).values())
    assert needed(shown["trials"]) == set(executions(project))


def test_a_search_while_an_engine_runs_the_grid_executes_nothing_twice(project: Path, backend: str) -> None:
    env = environment(SEARCH_TOY_SLEEP="1")
    grid = subprocess.Popen(engine_command(backend, 2), cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    searched = run(search_command(backend, 4), project, env)
    grid_output = grid.communicate()[0]
    shown = show(project)

    assert 0 == grid.returncode, grid_output
    assert {"complete"} == {trial["state"] for trial in shown["trials"]}, searched.stdout
    assert {1} == set(executions(project).values())
    grid_jobs = needed([{"scale": "a", "x": 0.0, "depth": 1}])
    assert needed(shown["trials"]) | grid_jobs == set(executions(project))


@pytest.mark.doit
def test_a_trial_record_lost_or_damaged_is_written_again_from_the_study(project: Path) -> None:
    search_run(project, "doit", 2)
    records = sorted((project / "derived_data" / ".phyper" / "search" / "search" / "trials").glob("*.json"))
    records[0].unlink()  # what a kill between asking and writing the record leaves
    records[1].write_text('{"format": 2, "hash": ')  # a record cut short
    before = executions(project)

    damaged = run([sys.executable, "-m", "phyper", "search", "show"], project)
    search_run(project, "doit", 2)
    shown = show(project)

    assert f"phyper: warning: damaged trial record: {records[1].relative_to(project)}" in damaged.stderr
    assert [0, 1] == [trial["number"] for trial in shown["trials"]], "the study keeps both trials"
    assert [False, False] == [trial["stale"] for trial in shown["trials"]]
    assert records == sorted(records[0].parent.glob("*.json"))
    assert json.loads(records[1].read_text())["hash"] == records[1].stem
    assert before == executions(project)


@pytest.mark.snakemake
def test_the_words_after_a_double_dash_go_to_the_engine(project: Path) -> None:
    # -p (--printshellcmds): Snakemake prints each job's command line, which it does not otherwise
    run([*search_command("snakemake", 1, jobs=1), "--", "-p"], project)
    log = (project / "derived_data" / ".phyper" / "search" / "search" / "logs" / "trial-0.log").read_text()

    assert "Command: " in log and " --nolock -p derived_data/" in log
    assert "-m phyper run pipeline:pipeline train" in log


@pytest.mark.doit
def test_kill_9_as_the_study_is_created_then_the_same_command_gives_n_trials(project: Path) -> None:
    command = search_command("doit", 4)
    env = environment(SEARCH_TOY_SLEEP="0.5")
    driver = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = project / "derived_data" / ".phyper" / "search" / "search" / "journal.log"
    wait_until(lambda: journal.exists() and journal.stat().st_size > 0, "the study's journal")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    run(command, project, env)
    shown = show(project)

    assert 4 == len(shown["trials"])
    assert {"complete"} == {trial["state"] for trial in shown["trials"]}
    assert {1} == set(executions(project).values())
    assert needed(shown["trials"]) == set(executions(project))


def today(trial: dict[str, Any]) -> float:
    """The toy's score of a point of the small space (x=0) once `helpers.quality` subtracts 0.5."""
    return 1.0 - 5 * 0.3**2 - 0.1 * (trial["depth"] - 2) ** 2 - {"a": 0.2, "b": 0.0}[trial["scale"]] - 0.5


def test_trials_made_by_older_code_are_run_again_once_and_shown_stale(project: Path, backend: str) -> None:
    small = {"SEARCH_TOY_SAMPLER": "random", "SEARCH_TOY_SPACE": "small"}
    search_run(project, backend, 8, 2, **small)
    before = {trial["number"]: trial for trial in show(project, **small)["trials"]}
    ran_before = executions(project)
    # the training step calls helpers.quality: a new body makes every `train` result older code
    helpers = project / "helpers.py"
    helpers.write_text(helpers.read_text().replace("return score", "return score - 0.5"))

    again = search_run(project, backend, 16, 2, **small)
    shown = show(project, **small)
    after = {trial["number"]: trial for trial in shown["trials"]}
    ran = executions(project) - ran_before
    proposed = {after[number]["hash"] for number in range(8, 16)}
    new_scales = {after[n]["scale"] for n in range(8, 16)} - {before[n]["scale"] for n in range(8)}

    assert list(range(16)) == sorted(after)
    assert {"complete"} == {trial["state"] for trial in after.values()}, again.stdout
    # each point proposed again ran its stale training once (two folds); preprocessing only for a new scale
    assert {1} == set(ran.values())
    assert 2 * len(proposed) == sum(step == "train" for step, _ in ran)
    assert len(new_scales) == sum(step == "preprocess" for step, _ in ran)
    # the new trials got today's objectives (the toy's score at x=0, with quality's new body); the old ones are stale
    assert [today(after[n]) for n in range(8, 16)] == pytest.approx([after[n]["objective"] for n in range(8, 16)])
    assert [today(before[n]) + 0.5 for n in range(8)] == pytest.approx([before[n]["objective"] for n in range(8)])
    assert [True] * 8 + [False] * 8 == [after[n]["stale"] for n in range(16)]
    assert [before[n]["objective"] for n in range(8)] == [after[n]["objective"] for n in range(8)]
    best_current = max((after[n] for n in range(8, 16)), key=lambda trial: (trial["objective"], -trial["number"]))
    assert (True, best_current["number"]) == (shown["best"]["stale"], shown["best_current"]["number"])
    text = run([sys.executable, "-m", "phyper", "search", "show"], project, environment(**small)).stdout
    assert "16 trials, maximize score, 8 stale (made by older code)" in text
    assert 8 == text.count("complete (stale)")
    assert f"best current: trial {best_current['number']} " in text
    assert f"best: trial {shown['best']['number']} " in text.splitlines()[-2]
    assert text.splitlines()[-2].endswith(" (stale: told from results made by older code)")
