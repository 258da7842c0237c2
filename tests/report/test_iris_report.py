"""The report the Iris example's own step wrote (the session's few-epoch run), in a real Chromium."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.snakemake]

REPORT = Path("derived_data") / "results" / "report.html"


@pytest.fixture
def iris(completed: Callable[[str], Path]) -> Path:
    return completed("snakemake")


def test_hatch_run_iris_leaves_the_report_and_it_opens_offline(iris: Path, page: Any) -> None:
    page.open(iris / REPORT)

    requests = page.requests()

    assert [] == page.console_errors()
    assert [(iris / REPORT).resolve().as_uri()] == [url for url in requests if not url.startswith("data:")]
    assert (iris / REPORT).stat().st_size < 15_000_000


def test_every_model_has_its_row_with_its_validation_metrics(iris: Path, page: Any) -> None:
    page.open(iris / REPORT)
    models = sorted(folder.name[:8] for folder in (iris / "derived_data" / "all").iterdir())

    page.find("#results-table select.page-size option[value='100']").click()
    hashes = page.column("#results-table", "hash")
    accuracies = page.column("#results-table", "validation_accuracy")
    epochs = set(page.column("#results-table", "n_epochs"))

    assert models == sorted(hashes)
    assert 90 == len([text for text in accuracies if 0.0 <= float(text) <= 1.0])
    assert {"20"} == epochs  # the non-key each result was made with (the run's PHYPER_NON_KEYS)


def test_grouped_by_cross_validated_model_the_means_are_the_examples_scores(iris: Path, page: Any) -> None:
    page.open(iris / REPORT)
    with open(iris / "derived_data" / "results" / "cross_validation_scores.csv") as handle:
        scores = {row["cross_validated_model_hash"][:8]: float(row["average_validation_accuracy"])
                  for row in csv.DictReader(handle)}

    page.find("#group-by option[value='cross_validated_model']").click()
    models = page.column("#results-table", "cross_validated_model_hash")
    means = [float(text) for text in page.column("#results-table", "validation_accuracy")]

    assert sorted(scores) == sorted(models)
    assert [scores[model] for model in models] == pytest.approx(means, abs=1e-5)


def test_status_graph_plots_times_and_the_figure(iris: Path, page: Any) -> None:
    page.open(iris / REPORT)

    graph = page.js(
        "return [...document.querySelectorAll('#steps-graph g.step')].map("
        "g => [g.dataset.step, +g.dataset.complete, +g.dataset.toRun])"
    )
    parcoords_axes = page.js("return document.querySelectorAll('#parcoords .axis-title').length")
    boxes = page.js("return document.querySelectorAll('#boxes > div.box g.trace.boxes').length")
    steps_timed = page.column("#times-steps", "step") or page.js(
        "return [...document.querySelectorAll('#times-steps tbody tr td:first-child')].map(t => t.textContent)"
    )
    figure = page.js("return [...document.querySelectorAll('#figure-list img')].map(i => i.naturalWidth > 0)")

    # the report step runs last: every other job is complete when it writes the page, and its own
    # job counts as complete (the page is its result)
    assert [
        ["transform_data", 3, 0], ["preprocess_data", 6, 0], ["train_model", 90, 0], ["compute_cv_scores", 1, 0],
        ["retrain_best_model", 1, 0], ["plot_results", 1, 0], ["make_report", 1, 0],
    ] == graph
    assert 4 + 1 == parcoords_axes  # transformation, centering, n_hidden_layers, cv_fold, the metric
    assert 3 + 2 + 3 + 5 == boxes  # one box per value of each varying key
    assert {"transform_data", "preprocess_data", "train_model", "compute_cv_scores", "retrain_best_model",
            "plot_results"} == set(steps_timed)
    assert [True] == figure
