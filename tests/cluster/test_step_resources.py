"""What a step needs (threads, mem_mb, runtime, gpus): declared once, checked, carried to the plan
and to Snakemake's rules (which a cluster profile turns into sbatch options)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import phyper
from engines import BIN, IRIS, copy_project, environment, job_log, run


class Instance(phyper.Parser):
    transformation = "identity"
    cv_fold = 0


def make_pipeline(folder: Path) -> phyper.Pipeline:
    parser = Instance(hashed_resources_folder=str(folder))
    parser.register_new_resource("transformed_data", ["transformation"])
    instances = parser.get_instances_from_dictionary({"transformation": ["identity", "log"], "cv_fold": [0, 1]})
    return phyper.Pipeline(instances)


def transformed(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path("transformed_data"), "t.npy")


def model(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path(), "m.pt")


def scores() -> str:
    return "scores.csv"


def test_declared_resources_reach_the_plan_and_undeclared_ones_stay_absent(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)

    @pipeline.per_resource("transformed_data", outputs=[transformed])
    def transform(instance: Instance) -> None: ...

    @pipeline.per_instance(inputs=[transformed], outputs=[model], threads=4, mem_mb=8000, runtime=90)
    def train(instance: Instance) -> None: ...

    @pipeline.aggregate(inputs=[model], outputs=[scores], mem_mb=500)
    def score(instances: list[Instance]) -> None: ...

    plan = pipeline.plan()

    assert (1, {}) == (plan.step("transform").threads, plan.step("transform").resources)
    assert (4, {"mem_mb": 8000, "runtime": 90}) == (plan.step("train").threads, plan.step("train").resources)
    assert (1, {"mem_mb": 500}) == (plan.step("score").threads, plan.step("score").resources)
    assert (4, 8000, 90) == (pipeline.step("train").threads, pipeline.step("train").mem_mb, pipeline.step("train").runtime)


@pytest.mark.parametrize(
    ("resource", "value", "unit"),
    [
        ("threads", 0, "CPU cores"),
        ("threads", True, "CPU cores"),
        ("threads", 1.5, "CPU cores"),
        ("mem_mb", -1, "megabytes"),
        ("mem_mb", "2G", "megabytes"),
        ("runtime", 0, "minutes"),
        ("runtime", "1h", "minutes"),
    ],
)
def test_a_resource_that_is_not_a_positive_whole_number_is_refused_naming_the_step(
    tmp_path: Path, resource: str, value: object, unit: str
) -> None:
    pipeline = make_pipeline(tmp_path)

    def train(instance: Instance) -> None: ...

    with pytest.raises(phyper.PipelineDefinitionError) as raised:
        pipeline.per_instance(outputs=[model], **{resource: value})(train)  # type: ignore[arg-type]

    message = str(raised.value)
    assert f"step `train`: {resource}={value!r} must be a positive whole number of {unit}" in message
    assert isinstance(raised.value, ValueError)
    assert {} == pipeline.steps


def test_add_step_checks_resources_too(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)

    with pytest.raises(phyper.PipelineDefinitionError, match=r"step `train`: runtime=-5 must be a positive"):
        pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="train", runtime=-5)

    step = pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="train", threads=2)
    assert (2, None, None, {}) == (step.threads, step.mem_mb, step.runtime, step.resources)


@pytest.mark.snakemake
def test_snakemake_rules_carry_the_iris_steps_resources(tmp_path: Path, import_project: Callable[[Path], None]) -> None:
    import phyper_snakemake

    project = copy_project(IRIS, tmp_path / "iris")
    import_project(project)

    workflow = phyper_snakemake.load("pipeline:pipeline")

    declared = {rule.name: (rule.threads, rule.resources) for rule in workflow.rules}
    assert {
        "transform_data": (1, {"mem_mb": 500, "runtime": 5}),
        "preprocess_data": (1, {"mem_mb": 500, "runtime": 5}),
        "train_model": (1, {"mem_mb": 1000, "runtime": 10}),
        "compute_cv_scores": (1, {"mem_mb": 1000, "runtime": 5}),
        "retrain_best_model": (1, {"mem_mb": 1000, "runtime": 10}),
        "plot_results": (1, {"mem_mb": 1000, "runtime": 5}),
        "make_report": (1, {"mem_mb": 1000, "runtime": 5}),
    } == declared


GPUS = Path(__file__).resolve().parents[1] / "fixtures" / "gpus"


@pytest.mark.snakemake
def test_snakemake_rules_carry_the_gpus_a_step_needs_a_share_rounded_up(
    tmp_path: Path, import_project: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    import phyper_snakemake

    project = copy_project(GPUS, tmp_path / "gpus")
    import_project(project)
    monkeypatch.delenv("PHYPER_STEP_GPUS", raising=False)

    declared = {rule.name: rule.resources for rule in phyper_snakemake.load("pipeline:pipeline").rules}
    assert {"train": {"gpu": 1}, "summarise": {}} == declared

    # the run-time override: a share counts one device for the engine (phyper packs the shares)
    monkeypatch.setenv("PHYPER_STEP_GPUS", "train=0.25,summarise=2")
    declared = {rule.name: rule.resources for rule in phyper_snakemake.load("pipeline:pipeline").rules}
    assert {"train": {"gpu": 1}, "summarise": {"gpu": 2}} == declared
    monkeypatch.setenv("PHYPER_STEP_GPUS", "train=0")
    declared = {rule.name: rule.resources for rule in phyper_snakemake.load("pipeline:pipeline").rules}
    assert {"train": {}, "summarise": {}} == declared


@pytest.mark.snakemake
def test_a_gpu_step_reaches_the_cluster_submit_command(tmp_path: Path) -> None:
    """What a cluster-generic executor hands its submit command (what sbatch would get as --gpus)."""
    project = copy_project(GPUS, tmp_path / "gpus")
    submit = project / "submit.sh"
    submit.write_text(
        "#!/usr/bin/env bash\n"
        "# a one-machine 'cluster': note what the job asks for, run its script detached, print an id\n"
        'echo "threads=$1 gpu=$2" >> submitted.txt\n'
        'nohup bash "${@: -1}" > "$(mktemp)" 2>&1 &\n'
        "echo $!\n"
    )
    submit.chmod(0o755)
    key = run([sys.executable, "-c", "import config; print(config.instances[0].get_instance_hash())"], project).stdout.strip()
    env = environment(PHYPER_GPUS="0", PHYPER_DEVICE_POOL=str(tmp_path / "pool"), GPU_TEST_SLEEP="0")
    env.pop("CUDA_VISIBLE_DEVICES", None)

    run(
        [str(BIN / "snakemake"), "--executor", "cluster-generic",
         "--cluster-generic-submit-cmd", "./submit.sh {threads} {resources.gpu}",
         "--seconds-between-status-checks", "1", "-j", "1", f"derived_data/.phyper/done/train/{key}.json"],
        project, env,
    )

    assert "threads=1 gpu=1\n" == (project / "submitted.txt").read_text()
    # the submitted job ran through phyper, which gave it the (fake) device
    assert [["0"]] == [entry["devices"] for entry in job_log(project) if entry["status"] == "done"]
