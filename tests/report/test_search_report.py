"""The report's search section, opened in a real headless Chromium.

A small project with a TPE search (tests/fixtures/searched) runs 8 trials with doit;
the page must show what `phyper search show --json` says (the best trial, every
trial in the history plot and the table, each searched key against the objective),
and a report of a pipeline without a search shows neither the section nor its link.
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
