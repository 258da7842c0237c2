"""The report of a pipeline written from the README, opened in a real headless Chromium.

One module-wide scene (tests/fixtures/reported): doit runs the whole pipeline, whose
last step writes the report (``report_ok``); then two models are deleted and rerun
with ``PHYPER_NON_KEYS=fail_on=16``, so they fail, and a report is written after that
(``report_failed``); a copy with a 3,000-instance grid that never ran gives
``report_big``. Every test checks what the browser rendered.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from engines import REPO, copy_project, engine_command, environment, run, run_engine

pytestmark = [pytest.mark.browser, pytest.mark.doit]

FIXTURE = REPO / "tests" / "fixtures" / "reported"
RESULTS = Path("derived_data") / "results"
STEPS = ["make_data", "train", "summarise", "report"]

FACTS = """
import json, os
from pipeline import instances, score_path
facts = {}
for instance in instances:
    path = score_path(instance)
    score = json.load(open(path)) if os.path.exists(path) else None
    facts[instance.get_instance_hash()[:8]] = {
        'model': instance.get_instance_hash('model')[:8], 'width': instance.width,
        'accuracy': score and score['accuracy']}
print(json.dumps(facts))
"""

REPORT = "import phyper, pipeline; phyper.report(pipeline.pipeline, {path!r})"


def python(project: Path, code: str, **env: str) -> str:
    return run([sys.executable, "-c", code], project, environment(**env)).stdout


class Scene:
    def __init__(self, root: Path) -> None:
        self.project = copy_project(FIXTURE, root / "reported")
        run_engine("doit", self.project)
        self.facts: dict[str, dict[str, Any]] = json.loads(python(self.project, FACTS))
        self.report_ok = root / "report-ok.html"
        shutil.copy(self.project / RESULTS / "report.html", self.report_ok)
        # two models of width 16 lose their result and fail when rerun
        self.failing = sorted(h for h, fact in self.facts.items() if fact["width"] == 16)[:2]
        for folder in (self.project / "derived_data" / "all").iterdir():
            if folder.name[:8] in self.failing:
                (folder / "score.json").unlink()
        run_engine_failing = run([*engine_command("doit"), "--continue"], self.project, environment(PHYPER_NON_KEYS="fail_on=16"), check=False)
        assert 0 != run_engine_failing.returncode
        self.report_failed = root / "report-failed.html"
        python(self.project, REPORT.format(path=str(self.report_failed)), PHYPER_NON_KEYS="fail_on=16")
        # a grid of 3,000 instances that never ran
        self.big = copy_project(FIXTURE, root / "big")
        config = self.big / "config.py"
        config.write_text(config.read_text().replace("'fold': [0, 1, 2]", "'fold': list(range(250))"))
        self.big_hashes = sorted(json.loads(python(self.big, FACTS)))
        self.report_big = root / "report-big.html"
        python(self.big, REPORT.format(path=str(self.report_big)))
        # the same grid with the list of jobs to run cut at 1,000 rows
        self.report_cut = root / "report-cut.html"
        python(self.big, "import phyper._results.report; phyper._results.report.MAX_PENDING_ROWS = 1000; "
               + REPORT.format(path=str(self.report_cut)))


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return Scene(tmp_path_factory.mktemp("report"))


def opened(page: Any, path: Path) -> Any:
    page.open(path)
    return page


def test_the_report_step_wrote_a_page_that_works_offline(scene: Scene, page: Any) -> None:
    opened(page, scene.report_ok)

    requests = page.requests()
    assert [] == page.console_errors()
    assert [scene.report_ok.resolve().as_uri()] == [url for url in requests if not url.startswith("data:")]
    assert "Newcomer grid" == page.find("#title").text


def test_every_instance_row_is_reachable_by_paging(scene: Scene, page: Any) -> None:
    opened(page, scene.report_ok)

    hashes = page.every_row("#results-table", "hash")

    assert sorted(scene.facts) == sorted(hashes)
    assert "page 2 of 2" in page.page_info("#results-table")


def test_sorting_by_a_metric_orders_every_row(scene: Scene, page: Any) -> None:
    opened(page, scene.report_ok)
    accuracies = sorted(fact["accuracy"] for fact in scene.facts.values())

    page.find("#results-table th[data-column='accuracy']").click()
    ascending = [float(text) for text in page.column("#results-table", "accuracy")]
    page.find("#results-table th[data-column='accuracy']").click()
    descending = [float(text) for text in page.column("#results-table", "accuracy")]

    assert accuracies[:25] == pytest.approx(ascending)
    assert accuracies[::-1][:25] == pytest.approx(descending)


def test_filtering_a_key_and_a_metric(scene: Scene, page: Any) -> None:
    opened(page, scene.report_ok)
    wide = sorted(h for h, fact in scene.facts.items() if fact["width"] == 32)
    good = sorted(h for h, fact in scene.facts.items() if fact["accuracy"] > 0.85)

    page.type_into("#results-table input.col-filter[data-column='width']", "32")
    by_width = sorted(page.column("#results-table", "hash"))
    info = page.page_info("#results-table")
    page.type_into("#results-table input.col-filter[data-column='width']", "")
    page.type_into("#results-table input.col-filter[data-column='accuracy']", ">0.85")
    by_accuracy = sorted(page.every_row("#results-table", "hash"))

    assert wide == by_width
    assert f"of {len(wide)} (filtered from 36)" in info
    assert good == by_accuracy


def test_grouping_by_a_resource_gives_the_mean_over_its_folds(scene: Scene, page: Any) -> None:
    opened(page, scene.report_ok)
    folds: dict[str, list[float]] = {}
    for fact in scene.facts.values():
        folds.setdefault(fact["model"], []).append(fact["accuracy"])

    page.find("#group-by option[value='model']").click()
    models = page.column("#results-table", "model_hash")
    means = [float(text) for text in page.column("#results-table", "accuracy")]
    instances = page.column("#results-table", "instances")

    assert sorted(folds) == sorted(models)
    assert [statistics.mean(folds[model]) for model in models] == pytest.approx(means, abs=1e-5)
    assert ["3"] * 12 == instances


def test_plots_are_drawn_with_every_varying_key(scene: Scene, page: Any) -> None:
    opened(page, scene.report_ok)

    axes = page.js("return [...document.querySelectorAll('#parcoords .axis-title')].map(t => t.textContent)")
    canvases = page.js("return [...document.querySelectorAll('#parcoords canvas')].filter(c => c.width > 0).length")
    boxes = page.js(
        "return Object.fromEntries([...document.querySelectorAll('#boxes > div.box')].map("
        "d => [d.dataset.key, d.querySelectorAll('g.trace.boxes').length]))"
    )

    assert ["dataset", "width", "depth", "fold", "accuracy"] == axes
    assert canvases > 0
    assert {"dataset": 2, "width": 3, "depth": 2, "fold": 3} == boxes


def test_the_steps_graph_and_run_times(scene: Scene, page: Any) -> None:
    opened(page, scene.report_ok)

    graph = page.js(
        "return [...document.querySelectorAll('#steps-graph g.step')].map("
        "g => [g.dataset.step, +g.dataset.complete, +g.dataset.toRun, +g.dataset.failed])"
    )
    edges = page.js("return document.querySelectorAll('#steps-graph path.edge').length")
    engines = set(page.every_row("#times-jobs", "engine"))

    # the report is written by the report step itself: the page is that job's result, so it counts as complete
    assert [["make_data", 2, 0, 0], ["train", 36, 0, 0], ["summarise", 1, 0, 0], ["report", 1, 0, 0]] == graph
    assert 3 == edges
    assert {"doit"} == engines


def test_the_pipelines_figure_is_embedded(scene: Scene, page: Any) -> None:
    opened(page, scene.report_ok)

    images = page.js(
        "return [...document.querySelectorAll('#figure-list img')].map(i => [i.src.slice(0, 26), i.naturalWidth])"
    )

    assert [["data:image/svg+xml;base64,", 36 * 4]] == images


def test_failed_jobs_show_their_error_and_non_key_drift_is_stale(scene: Scene, page: Any) -> None:
    opened(page, scene.report_failed)

    page.type_into("#status-table input.col-filter[data-column='state']", "failed")
    failed = sorted(zip(page.column("#status-table", "hash"), page.column("#status-table", "reason")))
    graph = page.js(
        "return [...document.querySelectorAll('#steps-graph g.step')].map("
        "g => [g.dataset.step, +g.dataset.complete, +g.dataset.toRun, +g.dataset.failed])"
    )
    stale_steps = Counter(page.every_row("#stale-table", "step"))
    page.find("#stale-table button.first").click()
    stale = set(page.every_row("#stale-table", "non_keys"))

    assert [(h, "failed: ValueError: width 16 does not fit") for h in scene.failing] == failed
    assert [["make_data", 2, 0, 0], ["train", 34, 2, 2], ["summarise", 0, 1, 0], ["report", 0, 1, 0]] == graph
    # every job whose record was made with fail_on=-1 and still checks: 2 data, 34 models and the
    # report (the summary's record fails its check: one of its inputs is gone)
    assert {"make_data": 2, "train": 34, "report": 1} == stale_steps
    assert {"fail_on=-1 (now 16)"} == stale
    assert [] == page.console_errors()


def test_a_grid_that_never_ran_has_every_row_and_every_job_to_run(scene: Scene, page: Any) -> None:
    opened(page, scene.report_big)

    page.find("#results-table select.page-size option[value='500']").click()
    hashes = page.every_row("#results-table", "hash")
    cards = page.js("return [...document.querySelectorAll('#status-cards .card .value')].map(v => v.textContent)")

    assert scene.big_hashes == sorted(hashes)
    assert ["0", "3,004", "0", "3,004"] == cards  # complete, to run, failed, jobs (2 data, 3,000 models, 2 aggregates)
    assert [] == page.console_errors()


def test_phyper_report_and_collect_use_the_metrics_the_pipeline_names(scene: Scene, page: Any) -> None:
    written = run([sys.executable, "-m", "phyper", "report"], scene.project, environment()).stdout
    grouped = run([sys.executable, "-m", "phyper", "report", "-o", "grouped.html", "--group-by", "model"], scene.project,
                  environment()).stdout
    table = run([sys.executable, "-m", "phyper", "collect"], scene.project, environment()).stdout.splitlines()

    report = scene.project / "derived_data" / "report.html"
    assert written.startswith(f"wrote {Path('derived_data') / 'report.html'} (")
    assert grouped.startswith("wrote grouped.html (")
    assert table[0].endswith(",accuracy,loss")
    page.open(report)
    assert 34 == len([text for text in page.every_row("#results-table", "accuracy") if text])
    page.open(scene.project / "grouped.html")
    assert ["3"] * 12 == page.column("#results-table", "instances")  # one row per model, grouped when written
    assert not page.find("#group-by").is_enabled()


STATUS_NOTES = "return [...document.querySelectorAll('#status-table > p')].map(p => [p.className, p.textContent])"
STATUS_CARDS = "return [...document.querySelectorAll('#status-cards .card .value')].map(v => v.textContent)"


def test_the_status_text_says_what_is_to_run_failed_and_left_out(scene: Scene, page: Any) -> None:
    """Complete (written by the report step), some failed, everything to run, and a list cut short."""
    texts = {}
    for name in ("report_ok", "report_failed", "report_big", "report_cut"):
        page.open(getattr(scene, name))
        texts[name] = (page.js(STATUS_CARDS), page.js(STATUS_NOTES), len(page.find_all("#status-table table")),
                       page.page_info("#status-table") if page.find_all("#status-table .page-info") else None)
        assert [] == page.console_errors()

    complete = "every job is complete: nothing to run"
    # cards: complete, to run (not failed), failed, jobs
    assert (["40", "0", "0", "40"], [["state-complete", complete],
            ["note", "report (all) wrote this page and counts as complete: the page is its result"]], 0, None) \
        == texts["report_ok"]
    cards, notes, tables, _ = texts["report_failed"]
    assert (["36", "2", "2", "40"], [], 1) == (cards, notes, tables)  # 2 failed; summarise and report to run
    cards, notes, tables, _ = texts["report_big"]
    assert (["0", "3,004", "0", "3,004"], [], 1) == (cards, notes, tables)
    cards, notes, tables, _ = texts["report_cut"]
    assert (["0", "3,004", "0", "3,004"], 1) == (cards, tables)
    assert [["note", "… and 2,004 more jobs to run, left out to keep the page small (the counts above include "
             "them; phyper status -v lists them all)"]] == notes
