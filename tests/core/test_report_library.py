"""``pipeline.metrics`` and ``phyper.report`` without a browser: the missing extra, the arguments.

Runs in the core-only environment too (no plotly there: the error is the real one).
What the page shows is tested in a real browser in tests/report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import phyper
from phyper._results.collect import collect_rows
from phyper._results.report import steps_svg


class Knobs:
    epochs = 3


class Instance(phyper.Parser, Knobs):
    width = 8
    fold = 0


def grid_pipeline(folder: Path) -> phyper.Pipeline:
    parser = Instance(hashed_resources_folder=str(folder))
    parser.register_new_resource(name="model", dependencies=["width"])
    instances = parser.get_instances_from_dictionary({"width": [8, 16], "fold": [0, 1]})
    pipeline = phyper.Pipeline(instances)

    def score_path(instance: Any) -> str:
        return str(Path(instance.get_resources_path()) / "score.json")

    @pipeline.per_instance(outputs=[score_path])
    def train(instance: Any) -> None:
        Path(score_path(instance)).write_text(json.dumps({"accuracy": 1 - 1 / instance.width}))

    @pipeline.metrics
    def read_score(instance: Any) -> dict[str, float]:
        return dict(json.loads(Path(score_path(instance)).read_text()))

    return pipeline


@pytest.fixture
def no_plotly(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import plotly` raise ImportError, as if it were not installed
    for name in [name for name in sys.modules if name == "plotly" or name.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)


def test_a_missing_extra_is_one_error_naming_the_install_command(no_plotly: None, tmp_path: Path) -> None:
    pipeline = grid_pipeline(tmp_path / "derived")

    with pytest.raises(phyper.MissingDependencyError) as raised:
        phyper.report(pipeline, tmp_path / "report.html")

    assert isinstance(raised.value, phyper.PhyperError) and isinstance(raised.value, ImportError)
    assert "pip install 'phyper-core[report]'" in str(raised.value)
    assert not (tmp_path / "report.html").exists()


def test_the_metrics_a_pipeline_names_are_collected_with_no_loader_given(tmp_path: Path) -> None:
    pipeline = grid_pipeline(tmp_path / "derived")
    for job in pipeline.plan():
        phyper.run_job(pipeline, job.step, job.key)

    columns, rows = collect_rows(pipeline)

    assert "accuracy" == columns[-1]
    assert [0.875, 0.875, 0.9375, 0.9375] == sorted(row["accuracy"] for row in rows)


def test_metrics_must_be_a_function(tmp_path: Path) -> None:
    pipeline = grid_pipeline(tmp_path / "derived")

    with pytest.raises(phyper.PipelineDefinitionError, match="takes a function instance -> dict"):
        pipeline.metrics({"accuracy": 1.0})  # type: ignore[arg-type]


def test_grouping_by_an_unknown_resource_names_the_resources(tmp_path: Path) -> None:
    pytest.importorskip("plotly", reason="the report extra is not installed in this environment")
    pipeline = grid_pipeline(tmp_path / "derived")

    with pytest.raises(phyper.UnknownResourceError, match="no resource `modle`; did you mean `model`"):
        phyper.report(pipeline, tmp_path / "report.html", group_by="modle")


def test_the_steps_graph_has_a_box_per_step_and_an_arrow_per_edge() -> None:
    steps: list[dict[str, Any]] = [
        {"name": "prepare", "kind": "resource", "resource": "data", "upstream": [], "jobs": 2, "complete": 2,
         "to_run": 0, "failed": 0},
        {"name": "fit", "kind": "instance", "resource": None, "upstream": ["prepare"], "jobs": 8, "complete": 5,
         "to_run": 3, "failed": 1},
        {"name": "<sum>", "kind": "aggregate", "resource": None, "upstream": ["fit", "prepare"], "jobs": 1,
         "complete": 0, "to_run": 1, "failed": 0},
    ]

    svg = steps_svg(steps)

    assert 3 == svg.count('<g class="step')
    assert 3 == svg.count('class="edge"')
    assert '<g class="step failed" data-step="fit" data-complete="5" data-to-run="3" data-failed="1">' in svg
    assert "&lt;sum&gt;" in svg and "<sum>" not in svg
    assert "5/8 complete" in svg and "3 to run, 1 failed" in svg


def test_a_huge_list_of_jobs_to_run_is_cut_but_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phyper._results import report as _report

    pipeline = grid_pipeline(tmp_path / "derived")
    monkeypatch.setattr(_report, "MAX_PENDING_ROWS", 3)

    data = _report._page_data(pipeline, None, None, None)

    status = data["status"]
    assert (4, 4, 3, 1) == (status["jobs"], status["to_run"], len(status["pending"]["step"]), status["left_out"])
    assert ["no completion record"] * 3 == status["pending"]["reason"]
