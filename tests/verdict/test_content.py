"""Completion records judge content when times lie (phyper's own check, no engine).

The scenarios project is run in this process with `phyper.run_job`; then file times
and contents are changed the ways a copy, a `touch`, a rerun or a hand edit change them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import phyper
from engines import REPO

SCENARIOS = REPO / "tests" / "fixtures" / "scenarios"


@pytest.fixture
def pipeline(tmp_path: Path, import_project: Callable[[Path], None]) -> phyper.Pipeline:
    project = Path(shutil.copytree(SCENARIOS, tmp_path / "scenarios"))
    import_project(project)
    loaded = phyper.load_pipeline("pipeline:pipeline")
    plan = loaded.plan()
    for job in plan:
        phyper.run_job(loaded, job.step, job.key)
    return loaded


def incomplete(pipeline: phyper.Pipeline) -> dict[str, str]:
    verdicts = phyper.Verdicts(pipeline.plan())
    return {job.id: status.reason for job in verdicts.plan if not (status := verdicts.records_check_out(job)).complete}


def record_of(job: phyper.Job) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(Path(job.record).read_text())
    return record


def move_time(path: str, seconds: int = 60) -> None:
    info = os.stat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + seconds * 10**9))


def test_an_input_is_recorded_with_the_sha256_its_writer_recorded(pipeline: phyper.Pipeline) -> None:
    plan = pipeline.plan()
    report = plan.job("report", phyper.AGGREGATE_KEY)
    fits = {path: fingerprint for job in plan.jobs_of("fit") for path, fingerprint in record_of(job)["outputs"].items()}

    assert fits == record_of(report)["inputs"]
    assert all(not os.path.isabs(path) for path in [*fits, *record_of(report)["outputs"]])


def test_every_time_moved_with_the_same_bytes_leaves_every_job_complete(pipeline: phyper.Pipeline) -> None:
    for parent, _, names in os.walk("derived_data"):
        for name in names:
            move_time(os.path.join(parent, name))

    assert {} == incomplete(pipeline)


def test_a_writer_that_ran_again_makes_its_readers_run_even_with_the_same_bytes(pipeline: phyper.Pipeline) -> None:
    plan = pipeline.plan()
    table = plan.jobs_of("tabulate")[0]
    before = {path: Path(path).read_bytes() for path in table.outputs}

    phyper.run_job(pipeline, "tabulate", table.key, force=True)

    assert before == {path: Path(path).read_bytes() for path in table.outputs}
    readers = {job.id for job in plan.jobs_of("fit") if set(job.inputs) & set(table.outputs)}
    assert 6 == len(readers)
    assert {job_id: f"input {table.outputs[0]} was rewritten after the job ran" for job_id in readers} == incomplete(pipeline)


def test_an_output_rewritten_with_other_bytes_of_the_same_size_is_changed(pipeline: phyper.Pipeline) -> None:
    fit = pipeline.plan().jobs_of("fit")[0]
    path = fit.outputs[0]
    text = Path(path).read_text()
    Path(path).write_text(text.replace("0", "9") if "0" in text else text.replace("1", "8"))
    assert len(text) == len(Path(path).read_text()) and text != Path(path).read_text()

    assert f"output {path} changed content" == incomplete(pipeline)[fit.id]


def test_a_record_of_an_earlier_phyper_without_input_sha256_stays_valid_while_times_hold(pipeline: phyper.Pipeline) -> None:
    report = pipeline.plan().job("report", phyper.AGGREGATE_KEY)
    record = record_of(report)
    record["inputs"] = {path: fingerprint[:2] for path, fingerprint in record["inputs"].items()}
    Path(report.record).write_text(json.dumps(record))

    assert {} == incomplete(pipeline)
    moved = next(iter(record["inputs"]))
    move_time(moved)
    assert {report.id: f"input {moved} was rewritten after the job ran"} == incomplete(pipeline)
