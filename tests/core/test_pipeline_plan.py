"""The engine-free pipeline: steps, the plan as plain data, and its checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import pytest

import phyper


class NonKeys:
    n_epochs = 10


class Instance(phyper.Parser, NonKeys):
    transformation = "identity"
    centering = False
    n_hidden_layers = 1
    cv_fold = 0


GRID: dict[str, list[Any]] = {
    "transformation": ["identity", "log", "square"],
    "centering": [True, False],
    "n_hidden_layers": [1, 2, 3],
    "cv_fold": list(range(5)),
}


def make_instances(folder: str = "derived_data") -> phyper.InstanceList[Instance]:
    parser = Instance(hashed_resources_folder=folder)
    parser.register_new_resource("transformed_data", ["transformation"])
    parser.register_new_resource("preprocessed_data", ["transformation", "centering"])
    return parser.get_instances_from_dictionary(GRID)


def transformed(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path("transformed_data"), "t.npy")


def preprocessed(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path("preprocessed_data"), "p.npy")


def model(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path(), "m.pt")


def scores() -> str:
    return os.path.join("derived_data", "results", "scores.csv")


def iris_shaped_pipeline() -> phyper.Pipeline:
    pipeline = phyper.Pipeline(make_instances())
    pipeline.add_step(lambda i: None, kind="resource", resource_name="transformed_data", outputs=[transformed], name="transform")
    pipeline.add_step(lambda i: None, kind="resource", resource_name="preprocessed_data", inputs=[transformed], outputs=[preprocessed], name="preprocess")
    pipeline.add_step(lambda i: None, kind="instance", inputs=[preprocessed], outputs=[model], name="train")
    pipeline.add_step(lambda s: None, kind="aggregate", inputs=[model], outputs=[scores], name="score")
    return pipeline


def test_plan_has_one_job_per_distinct_hash_and_one_per_aggregate() -> None:
    plan = iris_shaped_pipeline().plan()

    counts = {step.name: len(plan.jobs_of(step.name)) for step in plan.steps}

    assert {"transform": 3, "preprocess": 6, "train": 90, "score": 1} == counts
    assert 100 == len(plan)


def test_dependencies_follow_from_the_files() -> None:
    instances = make_instances()
    plan = iris_shaped_pipeline().plan()
    instance = instances[17]

    train = plan.job("train", instance.get_instance_hash())
    preprocess = plan.job("preprocess", instance.get_instance_hash("preprocessed_data"))
    score = plan.job("score", phyper.AGGREGATE_KEY)

    assert (f"preprocess:{instance.get_instance_hash('preprocessed_data')}",) == train.dependencies
    assert (f"transform:{instance.get_instance_hash('transformed_data')}",) == preprocess.dependencies
    assert (model(instance),) == train.outputs
    assert (preprocessed(instance),) == train.inputs
    assert sorted(f"train:{i.get_instance_hash()}" for i in instances) == sorted(score.dependencies)
    assert ("transform", "preprocess", "train", "score") == tuple(step.name for step in plan.steps)
    assert ("preprocess",) == plan.step("train").upstream


def test_templates_replace_only_the_hash() -> None:
    instance = make_instances()[4]
    plan = iris_shaped_pipeline().plan()

    train = plan.step("train")

    assert (os.path.join("derived_data", "all", "{hash}", "m.pt"),) == train.output_templates
    assert model(instance) == train.output_templates[0].format(hash=instance.get_instance_hash())
    assert os.path.join("derived_data", ".phyper", "done", "train", "{hash}.json") == train.record_template
    assert (scores(),) == plan.step("score").output_templates


def test_plan_is_plain_data_and_builds_nothing_on_disk(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    plan = iris_shaped_pipeline().plan()

    assert [] == os.listdir(tmp_path)
    job = next(iter(plan))
    assert isinstance(job, phyper.Job) and isinstance(job.inputs, tuple) and isinstance(job.key, str)


def test_braces_in_paths_are_escaped_in_templates() -> None:
    pipeline = phyper.Pipeline(make_instances("derived_{data}"))
    pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="train")

    template = pipeline.plan().step("train").output_templates[0]

    instance = pipeline.instances[0]
    assert model(instance) == template.format(hash=instance.get_instance_hash())


@pytest.mark.parametrize(
    ("kind", "outputs", "message"),
    [
        ("instance", [scores], "must take one instance"),
        ("aggregate", [model], "must take no argument"),
        ("instance", [], "declares no outputs"),
    ],
)
def test_step_declaration_errors(kind: str, outputs: list[object], message: str) -> None:
    pipeline = phyper.Pipeline(make_instances())

    with pytest.raises(phyper.PipelineDefinitionError, match=message):
        pipeline.add_step(lambda i: None, kind=kind, outputs=outputs, name="bad")  # type: ignore[arg-type]


def test_a_step_declared_twice_is_an_error() -> None:
    pipeline = phyper.Pipeline(make_instances())
    pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="train")

    with pytest.raises(phyper.PipelineDefinitionError, match="`train` is declared twice"):
        pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="train")


def test_per_resource_output_without_the_resource_hash_is_an_error() -> None:
    pipeline = phyper.Pipeline(make_instances())
    pipeline.add_step(lambda i: None, kind="resource", resource_name="transformed_data", outputs=[model], name="transform")

    with pytest.raises(phyper.PipelineDefinitionError, match="does not contain the job's hash"):
        pipeline.plan()


def test_two_producers_of_one_file_is_an_error() -> None:
    pipeline = phyper.Pipeline(make_instances())
    pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="train")
    pipeline.add_step(lambda i: None, kind="instance", outputs=[model], name="train_again")

    with pytest.raises(phyper.PipelineDefinitionError, match="is an output of both"):
        pipeline.plan()


def test_steps_in_a_cycle_are_an_error() -> None:
    pipeline = phyper.Pipeline(make_instances())
    pipeline.add_step(lambda i: None, kind="instance", inputs=[preprocessed], outputs=[model], name="train")
    pipeline.add_step(lambda i: None, kind="resource", resource_name="preprocessed_data", inputs=[model], outputs=[preprocessed], name="preprocess")

    with pytest.raises(phyper.PipelineDefinitionError, match="cycle"):
        pipeline.plan()


def test_unknown_step_and_unknown_resource_are_named_errors() -> None:
    pipeline = iris_shaped_pipeline()

    with pytest.raises(phyper.UnknownStepError, match="did you mean `train`"):
        pipeline.step("trian")
    with pytest.raises(phyper.UnknownResourceError, match="did you mean `transformed_data`"):
        pipeline.per_resource("transformed", outputs=[transformed])
    with pytest.raises(LookupError, match="aggregate"):
        pipeline.subject(pipeline.step("score"), "0" * 32)
    with pytest.raises(phyper.UnknownHashError, match="resource `preprocessed_data`"):
        pipeline.subject(pipeline.step("preprocess"), "0" * 32)


class _Flag(phyper.Parser):
    # 1 and True are equal in Python, two values for phyper (two hashes)
    x: Literal[1, True] = 1
    y = 0


def test_varying_keys_tell_values_apart_as_their_hashes_do(tmp_path: Path) -> None:
    instances = _Flag(hashed_resources_folder=str(tmp_path)).get_instances_from_dictionary({"x": [1, True], "y": [0]})
    pipeline = phyper.Pipeline(instances)

    assert 2 == len({instance.get_instance_hash() for instance in instances})
    assert ["x"] == pipeline.varying_keys()
