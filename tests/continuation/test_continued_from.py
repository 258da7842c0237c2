"""`continues=` and `phyper.continued_from`, in one process (no engine): which lower rung, and when none.

The steps here train a number epoch by epoch and note each epoch in `TRAINED`, so
what a job trained is counted on the step itself.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import phyper
from phyper._planning.pipeline import AggregateArguments, StepArguments
from phyper._running.runner import RUNNING_JOB_VARIABLE
from phyper._state.records import Reason, read_record_checked

TRAINED: list[tuple[int, int]] = []
"""(lr, epoch) of every epoch a step trained, in order."""
EXTRA_BUDGETS: list[int] = []
"""What the steps pass as ``budgets=``."""


class Settings:
    log_every = 5  # a non-key


class Budget(phyper.Parser, Settings):
    seed = 0
    lr = 1
    n_epochs = 10


def model_path(instance: Any) -> str:
    return os.path.join(instance.get_resources_path(), "model.json")


def data_path(instance: Any) -> str:
    return os.path.join(instance.get_resources_path("data"), "data.json")


def _train(instance: Any, offset: int) -> None:
    lower = phyper.continued_from(instance, budgets=EXTRA_BUDGETS)
    state, start = 1, 0
    if lower is not None:
        with open(model_path(lower)) as handle:
            saved = json.load(handle)
        state, start = saved["state"], saved["epochs"]
    for number in range(start, instance.n_epochs):
        state = (state * 31 + instance.lr + number + offset) % 1_000_003
        TRAINED.append((instance.lr, number))
    with phyper.atomic_output(model_path(instance)) as tmp, open(tmp, "w") as handle:
        json.dump({"state": state, "epochs": instance.n_epochs}, handle)


def fit(instance: Any) -> None:
    """Today's training."""
    _train(instance, 0)


def fit_changed(instance: Any) -> None:
    """The training after an edit (another constant)."""
    _train(instance, 1)


@pytest.fixture
def parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Budget:
    monkeypatch.chdir(tmp_path)
    TRAINED.clear()
    EXTRA_BUDGETS.clear()
    made = Budget(hashed_resources_folder="derived_data")
    made.register_new_resource(name="data", dependencies=["seed"])
    return made


def make(parser: Budget, budgets: list[int], step: Callable[[Any], None] = fit, **options: Any) -> phyper.Pipeline:
    pipeline = phyper.Pipeline(parser.get_instances_from_dictionary({"n_epochs": budgets}))
    pipeline.add_step(step, kind="instance", outputs=[model_path], name="fit", continues="n_epochs", **options)
    return pipeline


def key_of(parser: Budget, n_epochs: int) -> str:
    return parser.get_instance(n_epochs=n_epochs).get_instance_hash()


def run(pipeline: phyper.Pipeline, parser: Budget, n_epochs: int, *, force: bool = False) -> dict[str, Any] | None:
    TRAINED.clear()
    return phyper.run_job(pipeline, "fit", key_of(parser, n_epochs), force=force)


def test_a_rung_continues_from_the_largest_lower_rung_that_is_done(parser: Budget) -> None:
    pipeline = make(parser, [10, 30, 90])
    run(pipeline, parser, 30)
    assert TRAINED == [(1, n) for n in range(30)]  # nothing lower is done: from scratch
    run(pipeline, parser, 10)
    record = run(pipeline, parser, 90)
    assert TRAINED == [(1, n) for n in range(30, 90)]
    assert record is not None and record["continued_from"] == {
        "record": pipeline.record_path("fit", key_of(parser, 30)), "key": key_of(parser, 30),
        "continues": "n_epochs", "budget": 30,
    }
    # the 30 loses its model: it is not done by the verdicts, so the 90 continues from the 10
    os.remove(model_path(parser.get_instance(n_epochs=30)))
    record = run(pipeline, parser, 90, force=True)
    assert TRAINED == [(1, n) for n in range(10, 90)]
    assert record is not None and record["continued_from"]["budget"] == 10


def test_a_continued_result_equals_one_trained_from_scratch(parser: Budget, tmp_path: Path) -> None:
    pipeline = make(parser, [10, 30])
    run(pipeline, parser, 10)
    run(pipeline, parser, 30)
    continued = json.loads(Path(model_path(parser.get_instance(n_epochs=30))).read_text())
    other = Budget(hashed_resources_folder=str(tmp_path / "scratch"))
    other.register_new_resource(name="data", dependencies=["seed"])
    scratch = make(other, [30])
    run(scratch, other, 30)
    assert TRAINED == [(1, n) for n in range(30)]
    assert json.loads(Path(model_path(other.get_instance(n_epochs=30))).read_text()) == continued


def test_a_lower_rung_made_by_older_code_is_never_continued_from(parser: Budget) -> None:
    run(make(parser, [10, 30]), parser, 10)
    edited = make(parser, [10, 30], fit_changed)
    record = run(edited, parser, 30)
    assert TRAINED == [(1, n) for n in range(30)]
    assert record is not None and "continued_from" not in record
    verdicts = phyper.Verdicts(edited.plan())
    assert verdicts.verdict(edited.plan().job("fit", key_of(parser, 10))).kind is Reason.OLDER_CODE


def test_the_lower_rung_is_an_optional_input_and_a_continued_result_goes_stale_with_its_code(parser: Budget) -> None:
    pipeline = make(parser, [10, 30])
    run(pipeline, parser, 10)
    run(pipeline, parser, 30)
    top = pipeline.plan().job("fit", key_of(parser, 30))
    lowest = pipeline.plan().job("fit", key_of(parser, 10))
    assert lowest.id in top.dependencies  # the engines run it first when both are to run
    os.remove(lowest.record)
    verdicts = phyper.Verdicts(pipeline.plan())
    assert verdicts.verdict(lowest).to_run
    assert not verdicts.verdict(top).to_run  # deleting the lower rung reruns nothing above it
    edited = make(parser, [10, 30], fit_changed)
    assert phyper.Verdicts(edited.plan()).verdict(edited.plan().job("fit", top.key)).kind is Reason.OLDER_CODE


def test_budgets_outside_the_grid_are_candidates_too(parser: Budget) -> None:
    run(make(parser, [10]), parser, 10)  # a rung of a search, say: not in the grid below
    EXTRA_BUDGETS.extend([3, 10, 50])  # 3 was never run, 50 is above
    record = run(make(parser, [30]), parser, 30)
    assert TRAINED == [(1, n) for n in range(10, 30)]
    assert record is not None and record["continued_from"]["key"] == key_of(parser, 10)


def test_continued_from_outside_a_running_step_is_a_named_error(parser: Budget, monkeypatch: pytest.MonkeyPatch) -> None:
    make(parser, [10, 30])
    monkeypatch.delenv(RUNNING_JOB_VARIABLE, raising=False)
    with pytest.raises(phyper.PipelineDefinitionError, match="inside a running step"):
        phyper.continued_from(parser.get_instance(n_epochs=30))
    # the variable alone (a step's own subprocess inherits it) is not a running job of this process
    monkeypatch.setenv(RUNNING_JOB_VARIABLE, f"fit:{key_of(parser, 30)}")
    with pytest.raises(phyper.PipelineDefinitionError, match="inside a running step"):
        phyper.continued_from(parser.get_instance(n_epochs=30))


def test_continued_from_in_a_step_that_does_not_continue_is_a_named_error(parser: Budget) -> None:
    pipeline = phyper.Pipeline(parser.get_instances_from_dictionary({"n_epochs": [10, 30]}))
    pipeline.add_step(fit, kind="instance", outputs=[model_path], name="fit")
    with pytest.raises(phyper.PipelineDefinitionError, match="declares no continues="):
        run(pipeline, parser, 30)


def test_continued_from_with_another_instance_is_a_named_error(parser: Budget) -> None:
    pipeline = phyper.Pipeline(parser.get_instances_from_dictionary({"n_epochs": [10, 30]}))

    def confused(instance: Any) -> None:
        phyper.continued_from(instance.replace(lr=2))

    pipeline.add_step(confused, kind="instance", outputs=[model_path], name="fit", continues="n_epochs")
    with pytest.raises(phyper.PipelineDefinitionError, match="another instance"):
        run(pipeline, parser, 30)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"continues": "log_every"}, "names a non-key"),
        ({"continues": "n_epoch"}, "did you mean `n_epochs`"),
        ({"continues": 10}, "must name a key"),
        ({"continues": "n_epochs", "kind": "resource", "resource_name": "data"}, "resource `data` does not depend"),
        ({"continues": "n_epochs", "kind": "aggregate"}, "is an aggregate"),
        ({"continue": "n_epochs"}, "unknown option continue='n_epochs'; did you mean `continues`"),
    ],
)
def test_a_bad_continues_is_refused_before_anything_runs(parser: Budget, options: dict[str, Any], message: str) -> None:
    pipeline = phyper.Pipeline(parser.get_instances_from_dictionary({"n_epochs": [10, 30]}))
    kind = options.pop("kind", "instance")
    outputs = [data_path] if kind == "resource" else [(lambda: "total.json")] if kind == "aggregate" else [model_path]
    with pytest.raises(phyper.PipelineDefinitionError, match=message.replace("(", r"\(")):
        pipeline.add_step(fit, kind=kind, outputs=outputs, name="fit", **options)
    assert pipeline.steps == {}


def test_the_decorators_refuse_a_bad_continues_too(parser: Budget) -> None:
    pipeline = phyper.Pipeline(parser.get_instances_from_dictionary({"n_epochs": [10, 30]}))
    with pytest.raises(phyper.PipelineDefinitionError, match="did you mean `n_epochs`"):
        pipeline.per_instance(outputs=[model_path], continues="epochs")(fit)
    with pytest.raises(phyper.PipelineDefinitionError, match="does not depend on `n_epochs`"):
        pipeline.per_resource("data", outputs=[data_path], continues="n_epochs")(fit)


def test_the_options_are_declared_once() -> None:
    options = {field.name for field in fields(phyper.StepOptions)}
    assert set(typing.get_type_hints(StepArguments)) == options
    assert set(typing.get_type_hints(AggregateArguments)) == options - {"batch", "continues"}
    assert options <= {field.name for field in fields(phyper.Step)}


def test_a_batched_continuing_step_is_not_ordered_and_still_continues(parser: Budget) -> None:
    pipeline = make(parser, [10, 30], batch=2)
    plan = pipeline.plan()
    assert all(dependency.partition(":")[0] != "fit" for job in plan.engine_jobs() for dependency in job.dependencies)
    run(pipeline, parser, 10)
    run(pipeline, parser, 30)
    assert TRAINED == [(1, n) for n in range(10, 30)]


def test_an_old_record_without_the_field_still_reads(parser: Budget) -> None:
    pipeline = make(parser, [10, 30])
    record = run(pipeline, parser, 10)
    assert record is not None and "continued_from" not in record
    path = pipeline.record_path("fit", key_of(parser, 10))
    read, problem = read_record_checked(path)
    assert problem is None and read is not None and read.continued_from is None
    Path(path).write_text(json.dumps({**record, "continued_from": "30"}))
    read, problem = read_record_checked(path)
    assert read is None and problem is not None and "continued_from" in problem


def test_the_cached_plan_keeps_the_rungs_and_passes_its_spot_check(parser: Budget, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = make(parser, [10, 30, 90])
    run(pipeline, parser, 10)  # the state folder exists: plans are stored
    first = pipeline.plan(cache=True)
    again = pipeline.plan(cache=True)
    top = f"fit:{key_of(parser, 90)}"
    assert first.jobs[top].dependencies == again.jobs[top].dependencies == (f"fit:{key_of(parser, 30)}",)
    assert os.listdir(pipeline.state.plan_cache_folder())  # the second plan was read from the cache
    assert "disagrees" not in capsys.readouterr().err
