"""The report's search section, opened in a real headless Chromium.

A small project with a TPE search (tests/fixtures/searched) runs 8 trials with doit;
the page must show what `phyper search show --json` says (the best trial, every
trial in the history plot and the table, each searched key against the objective),
and a report of a pipeline without a search shows neither the section nor its link.
A search with a budget and Hyperband (tests/fixtures/pruned) runs 12 trials rung by
rung: the page draws one learning curve per trial (pruned ones dashed grey, the best
in orange), lists the pruned trials and each trial's highest rung, and gives the
epochs trained, which are the lines the training appended to epochs.log.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from engines import REPO, copy_project, run

pytestmark = [pytest.mark.browser, pytest.mark.doit]

FIXTURE = REPO / "tests" / "fixtures" / "searched"
TRIALS = 8
PRUNED = REPO / "tests" / "fixtures" / "pruned"
PRUNED_TRIALS = 12


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    project = copy_project(FIXTURE, tmp_path_factory.mktemp("searched") / "searched")
    run([sys.executable, "-m", "phyper", "search", "run", "--trials", str(TRIALS), "-j", "2", "--engine", "doit"], project)
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)
    page = project / "report.html"
    run([sys.executable, "-m", "phyper", "report", "-o", str(page)], project)
    return page, shown


def test_the_search_section_shows_every_trial_and_the_best(searched: tuple[Path, dict[str, Any]], page: Any) -> None:
    path, shown = searched
    page.open(path)

    best = shown["best"]
    history = page.js(
        "const plot = document.querySelector('[data-search-plot=history]');"
        "return plot.data.map(trace => [trace.name, trace.x.length, trace.y]);"
    )
    keys = page.js("return [...document.querySelectorAll('[data-search-key]')].map(d => [d.dataset.searchKey, d.data[0].x.length])")
    complete = [trial for trial in shown["trials"] if trial["state"] == "complete"]
    best_so_far = [max(trial["objective"] for trial in complete[: index + 1]) for index in range(len(complete))]

    assert [] == page.console_errors()
    assert page.find("#search").is_displayed() and page.find("#search-link").is_displayed()
    assert f"search: maximize score (tpe, {TRIALS} trials)" == page.find("#search-list h3").text
    assert page.find("[data-search-best]").text.startswith(f"best: trial {best['number']}, dataset={best['dataset']} ")
    assert TRIALS == len(shown["trials"]) == len(complete)
    assert ["trial", "best so far", "failed / running"] == [name for name, _, _ in history]
    assert [TRIALS, TRIALS, 0] == [count for _, count, _ in history]
    assert best_so_far == history[1][2]
    assert [["dataset", TRIALS], ["noise", TRIALS], ["size", TRIALS]] == keys
    assert sorted(str(trial["number"]) for trial in shown["trials"]) == sorted(page.every_row("#search-list", "number"))


def test_a_pipeline_without_a_search_shows_no_search_section(tmp_path: Path, page: Any) -> None:
    project = copy_project(REPO / "tests" / "fixtures" / "reported", tmp_path / "reported")
    path = tmp_path / "report.html"
    run([sys.executable, "-c", f"import phyper, pipeline; phyper.report(pipeline.pipeline, {str(path)!r})"], project)
    page.open(path)

    assert [] == page.console_errors()
    assert not page.find("#search").is_displayed()
    assert not page.find("#search-link").is_displayed()


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    project = copy_project(PRUNED, tmp_path_factory.mktemp("pruned") / "pruned")
    run([sys.executable, "-m", "phyper", "search", "run", "--trials", str(PRUNED_TRIALS), "-j", "2", "--engine", "doit"],
        project)
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)
    page = project / "report.html"
    run([sys.executable, "-m", "phyper", "report", "-o", str(page)], project)
    return project, page, shown


def test_a_budgeted_search_shows_each_trials_learning_curve(pruned: tuple[Path, Path, dict[str, Any]], page: Any) -> None:
    _, path, shown = pruned
    page.open(path)

    traces = page.js(
        "const plot = document.querySelector('[data-search-plot=curves]');"
        "return plot.data.map(t => ({number: t.meta[0], name: t.name, x: t.x, y: t.y, dash: t.line.dash, color: t.line.color,"
        " width: t.line.width, legend: t.showlegend}));"
    )
    trials = {trial["number"]: trial for trial in shown["trials"]}
    best = shown["best"]["number"]
    pruned_numbers = [number for number, trial in trials.items() if trial["state"] == "pruned"]

    assert [] == page.console_errors()
    assert PRUNED_TRIALS == len(trials) == len(traces)
    assert pruned_numbers == shown["pruned"] and pruned_numbers, "hyperband pruned no trial: the section shows nothing"
    for trace in traces:
        trial = trials[trace["number"]]
        assert [point["budget"] for point in trial["rungs"]] == trace["x"]
        assert [point["objective"] for point in trial["rungs"]] == trace["y"]
        if trace["number"] == best:
            assert (f"best: trial {best}", "solid", "#e65100", 4) == (trace["name"], trace["dash"], trace["color"], trace["width"])
        elif trial["state"] == "pruned":
            assert ("pruned", "dash", "#9e9e9e") == (trace["name"], trace["dash"], trace["color"])
        else:
            assert ("complete", "solid") == (trace["name"], trace["dash"])
    # pruned lines first (drawn below), the best last (on top), one legend entry per kind
    assert best == traces[-1]["number"]
    assert ["pruned", "complete", f"best: trial {best}"] == [trace["name"] for trace in traces if trace["legend"]]
    assert (
        f"pruned: {len(pruned_numbers)} of {PRUNED_TRIALS} trials (trial {', '.join(map(str, pruned_numbers))})"
        == page.find("[data-search-pruned]").text
    )
    assert "budget: n_epochs at 1, 3, 9 · pruner: hyperband" == page.find("[data-search-fidelity]").text


def test_a_budgeted_search_lists_state_and_highest_rung_per_trial(pruned: tuple[Path, Path, dict[str, Any]], page: Any) -> None:
    _, path, shown = pruned
    page.open(path)

    numbers = page.every_row("#search-list", "number")
    page.open(path)  # back to the first page
    states = page.every_row("#search-list", "state")
    page.open(path)
    rungs = page.every_row("#search-list", "n_epochs")

    assert [str(trial["number"]) for trial in shown["trials"]] == numbers
    assert [trial["state"] for trial in shown["trials"]] == states
    assert [str(trial["budget"]) for trial in shown["trials"]] == rungs
    assert {"1", "3", "9"} >= set(rungs) and "9" in rungs


def test_a_budgeted_search_gives_the_epochs_trained_against_from_scratch(
    pruned: tuple[Path, Path, dict[str, Any]], page: Any
) -> None:
    project, path, shown = pruned
    page.open(path)

    cards = [card.text.split("\n") for card in page.find_all("[data-search-epochs] .card")]
    bars = page.js("const p = document.querySelector('[data-search-plot=epochs]'); return [p.data[0].y, p.data[0].x];")
    trained = len((project / "epochs.log").read_text().splitlines())  # one line per epoch fit trained
    from_scratch = sum(sum(point["budget"] for point in trial["rungs"]) for trial in shown["trials"])
    one_run = sum(trial["budget"] for trial in shown["trials"])

    assert [] == page.console_errors()
    assert (trained, from_scratch, one_run) == tuple(
        shown["epochs"][name] for name in ("trained", "from_scratch", "one_run_per_trial")
    )
    assert trained < from_scratch
    assert [[str(trained), "n_epochs phyper trained"], [str(from_scratch), "n_epochs from scratch"],
            [str(one_run), "n_epochs in one run per trial"]] == cards
    assert [["phyper", "one run per trial", "from scratch"], [trained, one_run, from_scratch]] == bars


def test_the_report_of_a_search_without_a_budget_shows_no_learning_curves(
    searched: tuple[Path, dict[str, Any]], page: Any
) -> None:
    path, shown = searched
    page.open(path)

    assert [] == page.console_errors()
    assert "fidelity" not in shown
    assert [] == page.find_all("[data-search-plot=curves]") + page.find_all("[data-search-epochs]")
    assert ["number", "dataset", "noise", "size", "state", "objective", "hash", "stale"] == [
        th.text.strip() for th in page.find_all("#search-list th.sortable")
    ]


def test_without_a_continuing_step_the_curves_show_and_no_epoch_is_counted(tmp_path: Path, page: Any) -> None:
    project = copy_project(PRUNED, tmp_path / "pruned")
    source = (project / "pipeline.py").read_text()
    changed = source.replace(", continues='n_epochs')", ")").replace(
        "None if os.environ.get('PRUNED_FROM_SCRATCH') else phyper.continued_from(instance)", "None"
    )
    assert changed.count("continue") == source.count("continue") - 2  # both edits made
    (project / "pipeline.py").write_text(changed)
    run([sys.executable, str(REPO / "tests" / "report" / "pruned_study.py")], project)
    shown = json.loads(run([sys.executable, "-m", "phyper", "search", "show", "--json"], project).stdout)
    path = project / "report.html"
    run([sys.executable, "-m", "phyper", "report", "-o", str(path)], project)
    page.open(path)

    curves = page.js("return document.querySelector('[data-search-plot=curves]').data.map(t => t.meta[0])")

    assert [] == page.console_errors()
    assert shown["epochs"] is None and [0, 1, 5] == shown["pruned"]
    assert sorted(curves) == [trial["number"] for trial in shown["trials"]]
    assert (
        "no step continues along n_epochs (continues='n_epochs'): which step trains the n_epochs is not known, "
        "so nothing is counted" == page.find("[data-search-epochs]").text
    )
    assert [] == page.find_all("[data-search-plot=epochs]")
