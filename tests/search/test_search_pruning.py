"""A search with a budget runs rung by rung, Optuna's pruner stops bad trials, no epoch is trained twice.

The toy (tests/fixtures/prune_toy) appends ``<scale> <lr> <epoch>`` to ``epochs.log`` for
each epoch it trains and ``preprocess <scale>`` to ``executions.txt`` for each
preprocessing: the lines are the real work. The *floor* is the set of (configuration,
epoch) pairs the trials reached, read from ``phyper search show --json`` (each trial's
highest rung): a search that trains each of them once and nothing else trains the floor.
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

TOY = REPO / "tests" / "fixtures" / "prune_toy"
RUNGS = [1, 3, 9]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(TOY, tmp_path / "prune_toy")


def search_command(backend: str, trials: int, jobs: int = 2, name: str = "search") -> list[str]:
    return [sys.executable, "-m", "phyper", "search", "run", "--search", name, "--trials", str(trials),
            "--engine", backend, "-j", str(jobs)]


def show(project: Path, name: str = "search") -> list[dict[str, Any]]:
    shown = run([sys.executable, "-m", "phyper", "search", "show", "--search", name, "--json"], project, environment())
    return list(json.loads(shown.stdout)["trials"])


def epochs(project: Path) -> Counter[tuple[str, str, int]]:
    """(scale, lr, epoch) of every epoch trained, counted."""
    path = project / "epochs.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter((scale, lr, int(epoch)) for scale, lr, epoch in (line.split() for line in lines))


def floor(*studies: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    """The distinct (configuration, epoch) pairs the trials of ``studies`` reached."""
    reached: dict[tuple[str, str], int] = {}
    for trials in studies:
        for trial in trials:
            configuration = (trial["scale"], repr(trial["lr"]))
            reached[configuration] = max(reached.get(configuration, 0), trial["budget"] or 0)
    return {(scale, lr, epoch) for (scale, lr), top in reached.items() for epoch in range(1, top + 1)}


def preprocessings(project: Path) -> Counter[str]:
    path = project / "executions.txt"
    return Counter(path.read_text().splitlines() if path.exists() else [])


def test_pruning_stops_bad_trials_and_trains_each_epoch_once(project: Path, backend: str) -> None:
    ran = run(search_command(backend, 9), project, environment())
    trials = show(project)

    states = Counter(trial["state"] for trial in trials)
    assert 9 == len(trials) and states["pruned"] >= 1 and states["complete"] >= 1, ran.stdout
    assert {"complete", "pruned"} == set(states)
    for trial in trials:  # a complete trial climbed every rung; a pruned one stopped below the top
        assert RUNGS[: len(trial["rungs"])] == [rung["budget"] for rung in trial["rungs"]]
        assert (9 == trial["budget"]) == (trial["state"] == "complete")
        assert trial["objective"] == trial["rungs"][-1]["objective"]
    trained = epochs(project)
    assert {1} == set(trained.values()), "an epoch was trained twice"
    assert floor(trials) == set(trained)
    # a promotion continued from the lower rung (from scratch, epoch 1 would be trained again)
    assert any(trial["budget"] > 1 for trial in trials)
    assert {f"preprocess {scale}" for scale in {t["scale"] for t in trials}} == set(preprocessings(project))
    assert {1} == set(preprocessings(project).values())
    text = run([sys.executable, "-m", "phyper", "search", "show", "--search", "search"], project, environment()).stdout
    assert f"{states['pruned']} pruned" in text and "n_epochs" in text


def test_optunas_own_tools_read_the_pruned_trials_and_their_reports(project: Path) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    run(search_command("doit", 5), project, environment())
    path = str(project / "derived_data" / ".phyper" / "search" / "search" / "journal.log")
    study = optuna.load_study(study_name="search", storage=JournalStorage(
        JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))))
    trials = show(project)

    pruned = [trial for trial in study.trials if trial.state is optuna.trial.TrialState.PRUNED]
    assert pruned
    assert [trial["number"] for trial in trials if trial["state"] == "pruned"] == [trial.number for trial in pruned]
    for trial in study.trials:
        shown = trials[trial.number]
        assert {rung["budget"]: rung["objective"] for rung in shown["rungs"]} == trial.intermediate_values
        assert shown["objective"] == trial.value


def test_a_second_study_with_a_larger_top_budget_continues_from_the_first(project: Path, backend: str) -> None:
    run(search_command(backend, 6), project, environment())
    first = show(project)
    trained_first = epochs(project)
    run(search_command(backend, 6, name="bigger"), project, environment())
    second = show(project, "bigger")
    trained = epochs(project)

    assert {1} == set(trained.values()), "an epoch was trained twice"
    assert floor(first, second) == set(trained)
    assert any(trial["budget"] == 27 for trial in second)
    # the same seed proposes the same points: the second study's rungs 1, 3 and 9 were the first's
    assert [(t["scale"], t["lr"]) for t in first] == [(t["scale"], t["lr"]) for t in second]
    fresh = floor(second)  # what the second study alone would have trained
    assert sum(trained.values()) - sum(trained_first.values()) == len(fresh - floor(first))
    assert len(fresh - floor(first)) < len(fresh)


def wait_for(condition: Any, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_kill_9_mid_rung_then_the_same_command_trains_no_epoch_twice(project: Path, backend: str) -> None:
    env = environment(PRUNE_TOY_EPOCH_SLEEP="0.3", PRUNE_TOY_PRUNER="none")
    command = search_command(backend, 3)
    driver = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # mid-rung: a trial has trained into its second rung (epoch 2 of 3)
    wait_for(lambda: any(epoch == 2 for _, _, epoch in epochs(project)))
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    reported = {trial["number"]: trial["budget"] for trial in show(project)}
    assert all(state == "running" for state in {t["state"] for t in show(project)})

    resumed = run(command, project, env)
    trials = show(project)
    trained = epochs(project)

    assert 1 <= len(reported) <= 3 and any(budget is not None for budget in reported.values())
    assert ["complete"] * 3 == [trial["state"] for trial in trials], resumed.stdout
    assert {1} == set(trained.values()), "an epoch was trained twice"
    assert floor(trials) == set(trained)
    assert 3 * 9 == sum(trained.values())


@pytest.mark.doit
def test_two_drivers_at_once_train_each_epoch_once(project: Path) -> None:
    env = environment(PRUNE_TOY_EPOCH_SLEEP="0.05")
    command = search_command("doit", 8, jobs=1)
    first = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    first_output, _ = first.communicate()
    trials = show(project)
    trained = epochs(project)

    assert (0, 0) == (first.returncode, second.returncode), first_output + second.stdout + second.stderr
    assert 8 == len(trials) and {"complete", "pruned"} >= {trial["state"] for trial in trials}
    assert {1} == set(trained.values()), "an epoch was trained twice"
    assert floor(trials) == set(trained)


@pytest.mark.snakemake
def test_a_search_beside_a_grid_run_shares_its_rungs(project: Path) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    env = environment(PRUNE_TOY_EPOCH_SLEEP="0.1", PRUNE_TOY_PRUNER="none")
    run(search_command("doit", 1, jobs=1), project, env)  # makes the study; trial 0 is another point
    path = str(project / "derived_data" / ".phyper" / "search" / "search" / "journal.log")
    study = optuna.load_study(study_name="search", storage=JournalStorage(
        JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))))
    study.enqueue_trial({"scale": "a", "lr": 0.5})  # the grid's configuration (config.py)
    grid = subprocess.Popen(engine_command("snakemake", 2), cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    searched = run(search_command("snakemake", 3), project, env)
    grid_output, _ = grid.communicate()
    trials = show(project)
    trained = epochs(project)

    assert 0 == grid.returncode, grid_output
    assert ["complete"] * 3 == [trial["state"] for trial in trials], searched.stdout
    assert (("a", "0.5"), 9) in {((t["scale"], repr(t["lr"])), t["budget"]) for t in trials}
    assert {1} == set(trained.values()), "an epoch was trained twice"
    assert floor(trials) == set(trained)


@pytest.mark.doit
def test_hyperband_brackets_agree_between_two_drivers(project: Path) -> None:
    """Hyperband places a trial in a bracket by its number (through the study); a trial of
    bracket s is never stopped below rung s, whichever driver asked the pruner."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    env = environment(PRUNE_TOY_PRUNER="hyperband", PRUNE_TOY_EPOCH_SLEEP="0.02")
    command = search_command("doit", 12, jobs=1)
    first = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    first_output, _ = first.communicate()
    trials = show(project)
    path = str(project / "derived_data" / ".phyper" / "search" / "search" / "journal.log")
    study = optuna.load_study(study_name="search", storage=JournalStorage(
        JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))))
    hyperband = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)
    hyperband._try_initialization(study)
    brackets = [hyperband._get_bracket_id(study, trial) for trial in study.trials]

    assert (0, 0) == (first.returncode, second.returncode), first_output + second.stdout + second.stderr
    assert 12 == len(trials) and {"complete", "pruned"} >= {trial["state"] for trial in trials}
    assert len(set(brackets)) > 1
    for trial, bracket in zip(trials, brackets):
        assert trial["budget"] >= RUNGS[bracket], (trial, bracket)
    assert {1} == set(epochs(project).values())
    assert floor(trials) == set(epochs(project))


@pytest.mark.doit
def test_a_pruned_configuration_proposed_again_continues_from_its_rungs(project: Path) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    run(search_command("doit", 4), project, environment())
    first = show(project)
    pruned = next(trial for trial in first if trial["state"] == "pruned")
    path = str(project / "derived_data" / ".phyper" / "search" / "search" / "journal.log")
    study = optuna.load_study(study_name="search", storage=JournalStorage(
        JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))))
    study.enqueue_trial({"scale": pruned["scale"], "lr": pruned["lr"]}, skip_if_exists=False)
    before = epochs(project)
    run(search_command("doit", 5), project, environment(PRUNE_TOY_PRUNER="none"))  # this time it climbs
    again = show(project)[4]
    trained = epochs(project) - before

    assert (pruned["hash"], "complete", 9) == (again["hash"], again["state"], again["budget"])
    assert pruned["rungs"] == again["rungs"][: len(pruned["rungs"])]
    configuration = (pruned["scale"], repr(pruned["lr"]))
    assert {(*configuration, epoch) for epoch in range(pruned["budget"] + 1, 10)} == set(trained)
    assert {1} == set(epochs(project).values())
