"""Running one job, completion records, and the `python -m phyper` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import phyper
from engines import TOY, copy_project, environment
from phyper._planning.verdict import Reason


class NonKeys:
    n_epochs = 10


class Instance(phyper.Parser, NonKeys):
    transformation = "identity"
    n_hidden_layers = 1


def data_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path("data"), "data.txt")


def model_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path(), "model.txt")


def summary_path() -> str:
    return os.path.join("derived_data", "results", "summary.txt")


def build(layers: list[int], *, fail_train: bool = False, skip_output: bool = False, overrides: dict[str, int] | None = None) -> phyper.Pipeline:
    parser = Instance(hashed_resources_folder="derived_data")
    parser.register_new_resource("data", ["transformation"])
    instances = parser.get_instances_from_dictionary(
        {"transformation": ["identity", "log"], "n_hidden_layers": layers}, non_key_overrides=overrides or {}
    )
    pipeline = phyper.Pipeline(instances)

    @pipeline.per_resource("data", outputs=[data_path])
    def make_data(instance: Instance) -> None:
        Path(data_path(instance)).write_text(instance.transformation)

    @pipeline.per_instance(inputs=[data_path], outputs=[model_path])
    def train(instance: Instance) -> None:
        if skip_output:
            return
        with open(model_path(instance), "w") as handle:
            handle.write("partial")
            if fail_train:
                raise RuntimeError("killed mid-write")
            handle.write(f" {instance.n_hidden_layers} {instance.n_epochs}")

    @pipeline.aggregate(inputs=[model_path], outputs=[summary_path])
    def summarise(instances: list[Instance]) -> None:
        Path(summary_path()).write_text(str(len(instances)))

    return pipeline


def run_all(pipeline: phyper.Pipeline) -> None:
    for job in pipeline.plan():
        phyper.run_job(pipeline, job.step, job.key)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def records_check_out(pipeline: phyper.Pipeline, job: phyper.Job) -> phyper.JobStatus:
    """Whether ``job``'s own records check out, as the pipeline's verdicts see them (no upstream rule)."""
    return phyper.Verdicts(pipeline.plan()).records_check_out(job)


def test_a_job_writes_outputs_manifest_record_and_log() -> None:
    pipeline = build([1, 2])
    instance = pipeline.instances[0]

    phyper.run_job(pipeline, "make_data", instance.get_instance_hash("data"))
    record = phyper.run_job(pipeline, "train", instance.get_instance_hash(), engine="test")

    assert "partial 1 10" == Path(model_path(instance)).read_text()
    manifest = phyper.read_manifest(instance.get_resources_path())
    assert (instance.get_instance_hash(), {"transformation": "identity", "n_hidden_layers": 1}) == (
        manifest.hash,
        manifest.key_values,
    )
    assert record is not None
    assert [model_path(instance)] == list(record["outputs"])
    assert {"n_epochs": 10} == record["non_keys"]
    job = pipeline.plan().job("train", instance.get_instance_hash())
    assert records_check_out(pipeline, job).complete
    assert [("make_data", "test"), ("train", "test")][1] == tuple(
        (entry["step"], entry["engine"]) for entry in phyper.read_job_log(pipeline)
    )[1]


def test_a_forced_rerun_that_dies_mid_write_leaves_its_job_to_run() -> None:
    good = build([1])
    run_all(good)
    instance = good.instances[0]
    job = good.plan().job("train", instance.get_instance_hash())
    assert records_check_out(good, job).complete
    failing = build([1], fail_train=True)

    with pytest.raises(RuntimeError, match="killed mid-write"):
        phyper.run_job(failing, "train", instance.get_instance_hash(), force=True)

    assert "partial" == Path(model_path(instance)).read_text()
    # the earlier record stays (a record is replaced only by a complete new one), and no longer
    # matches the half-written model: the job is to run, and its last attempt failed
    verdict = phyper.Verdicts(good.plan()).verdict(job)
    assert (True, "failed: RuntimeError: killed mid-write", True, Reason.FILES_CHANGED) == (
        verdict.to_run, verdict.reason, verdict.failed, verdict.kind
    )


def test_a_step_that_does_not_write_an_output_fails_without_record() -> None:
    pipeline = build([1], skip_output=True)
    instance = pipeline.instances[0]
    phyper.run_job(pipeline, "make_data", instance.get_instance_hash("data"))

    with pytest.raises(phyper.JobFailedError, match="without writing .*model.txt"):
        phyper.run_job(pipeline, "train", instance.get_instance_hash())

    assert not os.path.exists(pipeline.record_path("train", instance.get_instance_hash()))


def test_a_missing_input_is_a_named_error() -> None:
    pipeline = build([1])

    with pytest.raises(phyper.JobFailedError, match="input .*data.txt does not exist"):
        phyper.run_job(pipeline, "train", pipeline.instances[0].get_instance_hash())


def test_a_manifest_that_disagrees_stops_the_job_before_it_runs() -> None:
    pipeline = build([1])
    instance = pipeline.instances[0]
    folder = Path(instance.get_resources_path("data"))
    folder.mkdir(parents=True)
    other = instance.replace(transformation="log")
    manifest = json.loads(Path(other.write_manifest("data")).read_text())
    (folder / phyper.MANIFEST_NAME).write_text(json.dumps(manifest))

    with pytest.raises(phyper.ManifestMismatchError):
        phyper.run_job(pipeline, "make_data", instance.get_instance_hash("data"))

    assert not os.path.exists(data_path(instance))


def test_completion_reasons() -> None:
    pipeline = build([1, 2])
    run_all(pipeline)
    plan = pipeline.plan()
    first, second = pipeline.instances[0], pipeline.instances[1]
    train_first = plan.job("train", first.get_instance_hash())
    train_second = plan.job("train", second.get_instance_hash())
    assert [] == [verdict for verdict in phyper.Verdicts(plan) if verdict.to_run]

    os.remove(model_path(first))
    Path(model_path(second)).write_text("something else entirely")

    assert phyper.JobStatus(False, f"output {model_path(first)} is missing") == records_check_out(pipeline, train_first)
    assert phyper.JobStatus(False, f"output {model_path(second)} changed size") == records_check_out(pipeline, train_second)
    summary = records_check_out(pipeline, plan.job("summarise", phyper.AGGREGATE_KEY))
    assert summary.reason in (
        f"input {model_path(first)} is missing",
        f"input {model_path(second)} was rewritten after the job ran",
    )
    assert not summary.complete


def test_touching_an_output_keeps_it_complete_but_rewriting_an_input_does_not() -> None:
    pipeline = build([1])
    run_all(pipeline)
    plan = pipeline.plan()
    instance = pipeline.instances[0]
    train = plan.job("train", instance.get_instance_hash())
    stat = os.stat(model_path(instance))

    os.utime(model_path(instance), ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert records_check_out(pipeline, train).complete

    phyper.run_job(pipeline, "make_data", instance.get_instance_hash("data"), force=True)
    assert phyper.JobStatus(False, f"input {data_path(instance)} was rewritten after the job ran") == records_check_out(pipeline, train)


def test_a_larger_grid_reruns_only_new_jobs_and_the_aggregate() -> None:
    run_all(build([1, 2]))

    pending = [verdict.job for verdict in phyper.Verdicts(build([1, 2, 3]).plan()) if verdict.to_run]

    new_hashes = sorted(i.get_instance_hash() for i in build([3]).instances)
    assert sorted(new_hashes) == sorted(job.key for job in pending if job.step == "train")
    assert ["summarise"] == [job.step for job in pending if job.step != "train"]


def test_non_key_overrides_change_no_completion() -> None:
    run_all(build([1, 2]))

    verdicts = phyper.Verdicts(build([1, 2], overrides={"n_epochs": 99}).plan())
    assert [] == [verdict for verdict in verdicts if verdict.to_run]


def test_command_line_runs_a_job_and_reports_status(tmp_path: Path) -> None:
    project = copy_project(TOY, tmp_path / "toy")
    instance_hash = subprocess.run(
        [sys.executable, "-c", "import config; print(config.instances[0].get_instance_hash('transformed_data'))"],
        cwd=project, env=environment(), capture_output=True, text=True, check=True,
    ).stdout.strip()

    ran = subprocess.run(
        [*phyper.job_command("pipeline:pipeline", "transform", instance_hash)],
        cwd=project, env=environment(), capture_output=True, text=True,
    )
    status = subprocess.run(
        [sys.executable, "-m", "phyper", "status", "pipeline:pipeline"],
        cwd=project, env=environment(), capture_output=True, text=True, check=True,
    )
    unknown = subprocess.run(
        [sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "trian", instance_hash],
        cwd=project, env=environment(), capture_output=True, text=True,
    )

    assert 0 == ran.returncode, ran.stderr
    assert "identity" == (project / "derived_data" / "transformed_data" / instance_hash / "transformed.txt").read_text()
    assert [
        "transform: 1/3 complete, 2 to run",
        "preprocess: 0/6 complete, 6 to run",
        "train: 0/90 complete, 90 to run",
        "score: 0/1 complete, 1 to run",
        "to run (99):",
    ] == status.stdout.splitlines()[:5]
    assert 2 == unknown.returncode
    assert "UnknownStepError: the pipeline has no step `trian`; did you mean `train`?" in unknown.stderr
