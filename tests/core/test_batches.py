"""Batches: bounded sizes and stable membership, the plan's batch jobs, running a batch."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import pytest

import phyper
from phyper._planning.batches import batch_finder, batch_key, group_into_batches, parse_batch_key


class Instance(phyper.Parser):
    transformation = "identity"
    seed = 0


def data_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path("data"), "data.txt")


def model_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path(), "model.txt")


def summary_path() -> str:
    return os.path.join("derived_data", "results", "summary.txt")


def build(seeds: int, *, batch: int | None = 4, fail_seed: int | None = None) -> phyper.Pipeline:
    parser = Instance(hashed_resources_folder="derived_data")
    parser.register_new_resource("data", ["transformation"])
    instances = parser.get_instances_from_dictionary({"transformation": ["identity", "log"], "seed": list(range(seeds))})
    pipeline = phyper.Pipeline(instances)

    @pipeline.per_resource("data", outputs=[data_path])
    def make_data(instance: Instance) -> None:
        Path(data_path(instance)).write_text(instance.transformation)

    @pipeline.per_instance(inputs=[data_path], outputs=[model_path], batch=batch)
    def train(instance: Instance) -> None:
        if instance.seed == fail_seed:
            raise RuntimeError(f"seed {fail_seed} fails")
        Path(model_path(instance)).write_text(Path(data_path(instance)).read_text() + str(instance.seed))

    @pipeline.aggregate(inputs=[model_path], outputs=[summary_path])
    def summarise(instances: list[Instance]) -> None:
        Path(summary_path()).write_text(str(len(instances)))

    return pipeline


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(phyper.BATCH_ENVIRONMENT_VARIABLE, raising=False)
    return tmp_path


def run_engine_jobs(pipeline: phyper.Pipeline) -> None:
    plan = pipeline.plan()
    for job in plan.engine_jobs():
        phyper.run_job(pipeline, job.step, job.key)


def logged(pipeline: phyper.Pipeline, before: int = 0) -> Counter[str]:
    return Counter(str(entry["step"]) for entry in done(pipeline, before))


def done(pipeline: phyper.Pipeline, before: int = 0) -> list[dict[str, object]]:
    """Log entries of jobs that ran to completion (not skipped, not failed)."""
    return [entry for entry in phyper.read_job_log(pipeline)[before:] if entry.get("status", "done") == "done"]


def sha_keys(count: int, start: int = 0) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(start, start + count)]


def moved(before: dict[str, list[str]], after: dict[str, list[str]]) -> int:
    """Members of both groupings whose batch changed (each new batch paired with the old one it keeps most of)."""
    old_of = {key: name for name, members in before.items() for key in members}
    common = [key for members in after.values() for key in members if key in old_of]
    kept = 0
    for members in after.values():
        overlap = Counter(old_of[key] for key in members if key in old_of)
        kept += max(overlap.values(), default=0)
    return len(common) - kept


@pytest.mark.parametrize(("instances", "size"), [(12, 3), (100, 10), (10_000, 100), (7, 3), (11, 10), (10, 10),
                                                 (3, 1), (5, 2), (2_000, 7)])
def test_no_batch_has_more_than_n_members_nor_fewer_than_half_of_n(instances: int, size: int) -> None:
    keys = sha_keys(instances)
    batches = group_into_batches(keys, size)
    sizes = [len(members) for members in batches.values()]

    assert sorted(keys) == sorted(key for members in batches.values() for key in members)
    assert [batch_key(index, len(batches)) for index in range(len(batches))] == list(batches)
    assert max(sizes) <= size
    assert min(sizes) >= (size / 2 if instances > size else instances)


def test_batch_keys_name_their_index_and_count() -> None:
    assert "batch-12-of-16" == batch_key(12, 16)
    assert [(12, 16), (3, 12), (0, 1)] == [parse_batch_key(k) for k in ("batch-12-of-16", "batch-03-of-12", "batch-0-of-1")]
    assert [None, None, None] == [parse_batch_key(k) for k in ("batch-12-of-12", "batch-16-of-16", "batch-2-of-16")]


def test_membership_does_not_depend_on_grid_order_and_a_new_value_moves_few_members() -> None:
    keys = sha_keys(10_000)
    forward = group_into_batches(keys, 100)
    backward = group_into_batches(list(reversed(keys)), 100)
    extra = sha_keys(50, start=10_000)
    added = [moved(forward, group_into_batches([*keys, key], 100)) for key in extra]
    removed = [moved(forward, group_into_batches([k for k in keys if k != key], 100)) for key in keys[:50]]

    assert {k: sorted(v) for k, v in forward.items()} == {k: sorted(v) for k, v in backward.items()}
    # one hash added or removed changes only its run: a member or two move between its batches
    # (the first hash-prefix rule moved half the step whenever the batch count doubled)
    assert max(added) <= 5 and sum(added) <= 2 * len(added)
    assert max(removed) <= 5 and sum(removed) <= 2 * len(removed)


def test_membership_is_the_batch_finders() -> None:
    batches = group_into_batches(sha_keys(1_000), 30)
    find = batch_finder(batches)

    assert {key: name for name, members in batches.items() for key in members} == {
        key: find(key) for members in batches.values() for key in members
    }


def test_the_plan_has_batch_jobs_listing_their_members_and_dependencies_name_batches() -> None:
    pipeline = build(10, batch=4)  # 20 train jobs, 2 to 4 per batch
    plan = pipeline.plan()
    step = plan.step("train")
    assert 4 == step.batch_size
    batches = plan.engine_jobs_of("train")
    assert list(step.batch_keys) == [job.key for job in batches]
    assert [(index, len(batches)) for index in range(len(batches))] == [parse_batch_key(job.key) for job in batches]
    assert all(2 <= len(job.members) <= 4 for job in batches)
    members = [key for job in batches for key in job.members]
    assert sorted(job.key for job in plan.jobs_of("train")) == sorted(members)
    assert all(plan.job("train", key).batch == job.key for job in batches for key in job.members)
    assert 2 == len(plan.engine_jobs_of("make_data"))  # not batched
    summary = plan.job("summarise", phyper.AGGREGATE_KEY)
    assert sorted(f"train:{job.key}" for job in batches) == sorted(summary.dependencies)
    expected_targets = [
        *[path for job in plan.jobs_of("make_data") for path in (*job.outputs, job.record)],
        *[job.record for job in batches],
        *summary.outputs,
        summary.record,
    ]
    assert expected_targets == plan.targets()


def test_a_batch_runs_its_members_and_writes_each_record_then_its_own() -> None:
    pipeline = build(6, batch=4)
    run_engine_jobs(pipeline)
    verdicts = phyper.Verdicts(pipeline.plan())
    assert [] == [verdict for verdict in verdicts if verdict.to_run]
    assert [] == verdicts.engine_jobs_to_run()
    assert Counter({"make_data": 2, "train": 12, "summarise": 1}) == logged(pipeline)


def test_deleting_one_member_folder_makes_only_its_batch_incomplete_and_reruns_only_it() -> None:
    pipeline = build(6, batch=4)
    run_engine_jobs(pipeline)
    plan = pipeline.plan()
    victim = plan.jobs_of("train")[3]
    os.remove(victim.outputs[0])
    incomplete = [job.key for job in phyper.Verdicts(plan).engine_jobs_to_run()]
    assert [victim.batch, phyper.AGGREGATE_KEY] == incomplete
    before = len(phyper.read_job_log(pipeline))
    assert victim.batch is not None
    phyper.run_job(pipeline, "train", victim.batch)
    assert [victim.key] == [entry["key"] for entry in done(pipeline, before)]
    assert not phyper.Verdicts(plan).verdict(plan.job("train", victim.batch)).to_run


def test_a_failing_member_leaves_the_others_complete_and_no_batch_record() -> None:
    pipeline = build(6, batch=100, fail_seed=2)  # one batch holds all 12
    plan = pipeline.plan()
    for job in plan.engine_jobs_of("make_data"):
        phyper.run_job(pipeline, job.step, job.key)
    (batch,) = plan.engine_jobs_of("train")
    with pytest.raises(phyper.JobFailedError, match=r"2 of 12 members failed"):
        phyper.run_job(pipeline, "train", batch.key)
    assert not os.path.exists(batch.record)
    verdicts = phyper.Verdicts(plan)
    assert 10 == sum(not verdicts.verdict(job).to_run for job in plan.jobs_of("train"))
    fixed = build(6, batch=100)
    before = len(phyper.read_job_log(fixed))
    phyper.run_job(fixed, "train", batch.key)
    assert 2 == len(done(fixed, before))
    assert not phyper.Verdicts(fixed.plan()).verdict(batch).to_run


def test_phyper_batch_overrides_the_declared_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(phyper.BATCH_ENVIRONMENT_VARIABLE, "train=0, make_data=1")
    plan = build(6, batch=4).plan()
    assert (False, True) == (plan.step("train").is_batched, plan.step("make_data").is_batched)
    assert 12 == len(plan.engine_jobs_of("train"))
    data_batches = plan.engine_jobs_of("make_data")
    assert all(job.key.endswith("-of-2") for job in data_batches)
    assert sorted(job.key for job in plan.jobs_of("make_data")) == sorted(k for job in data_batches for k in job.members)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trian=5", r"no step `trian`; did you mean `train`"),
        ("train", r"`train` is not step=N"),
        ("train=-1", r"`train=-1` is not step=N"),
        ("summarise=3", r"step `summarise` is an aggregate"),
    ],
)
def test_bad_phyper_batch_raises_a_batch_override_error(monkeypatch: pytest.MonkeyPatch, text: str, message: str) -> None:
    monkeypatch.setenv(phyper.BATCH_ENVIRONMENT_VARIABLE, text)
    with pytest.raises(phyper.BatchOverrideError, match=message):
        build(3).plan()


def test_bad_batch_declarations_raise_pipeline_definition_errors() -> None:
    with pytest.raises(phyper.PipelineDefinitionError, match=r"batch=-2 must be a whole number"):
        build(3, batch=-2)
    pipeline = build(3, batch=None)
    with pytest.raises(phyper.PipelineDefinitionError, match=r"aggregate .* batch= applies"):
        pipeline.add_step(lambda instances: None, kind="aggregate", outputs=[summary_path], name="other", batch=3)


def test_an_unknown_batch_key_is_an_unknown_step_error() -> None:
    pipeline = build(3)
    with pytest.raises(phyper.UnknownStepError, match=r"no job `batch-9-of-7`"):
        phyper.run_job(pipeline, "train", "batch-9-of-7")


def test_a_batched_plan_builds_each_member_as_the_unbatched_plan_has_it() -> None:
    batched, unbatched = build(10, batch=4).plan(), build(10, batch=None).plan()
    assert list(unbatched.jobs) == list(batched.jobs)  # same ids, same order
    batch_of = {f"train:{key}": batch.key for batch in batched.engine_jobs_of("train") for key in batch.members}
    assert 20 == len(batch_of)
    for job in unbatched:
        member = batched.jobs[job.id]
        # what depends on a job of a batched step depends on its batch job
        dependencies = tuple(dict.fromkeys(f"train:{batch_of[d]}" if d in batch_of else d for d in job.dependencies))
        assert (job.inputs, job.outputs, job.record, dependencies, batch_of.get(job.id)) == (
            member.inputs, member.outputs, member.record, member.dependencies, member.batch
        )
    assert len(unbatched) == len(batched)
    assert "train:" + "0" * 32 not in batched.jobs
    with pytest.raises(KeyError):
        batched.jobs["train:" + "0" * 32]


def test_gc_does_not_count_batch_records_as_orphans() -> None:
    from phyper._results.inventory import scan_records

    pipeline = build(6, batch=4)
    run_engine_jobs(pipeline)
    plan = pipeline.plan()
    records = list(scan_records(pipeline, plan))
    assert len(plan) + len(plan.batches) == len(records)
    assert [] == [record.path for record in records if not record.owned]


def stray_model_path(instance: Instance) -> str:
    # seed 3 writes next to its folder, not in it: outputs that vary by more than the hash
    if instance.seed == 3:
        return os.path.join("derived_data", "all", "stray.txt")
    return os.path.join(instance.get_resources_path(), "evaluation.txt")


def test_a_batched_member_whose_outputs_leave_the_template_is_refused_before_it_runs() -> None:
    pipeline = build(6, batch=None)
    with pytest.raises(phyper.PipelineDefinitionError, match=r"stray.txt .* does not follow the template"):
        pipeline.add_step(lambda instance: None, kind="instance", outputs=[stray_model_path], name="evaluate")
        pipeline.plan()
    pipeline = build(6, batch=None)
    pipeline.add_step(lambda instance: None, kind="instance", outputs=[stray_model_path], name="evaluate", batch=100)
    plan = pipeline.plan()  # members are built when needed: the plan of a huge grid stays cheap
    stray = next(i for i in pipeline.instances if i.seed == 3).get_instance_hash()
    with pytest.raises(phyper.PipelineDefinitionError, match=rf"stray.txt of job {stray} does not follow"):
        plan.jobs[f"evaluate:{stray}"]
    (batch,) = plan.engine_jobs_of("evaluate")
    with pytest.raises(phyper.PipelineDefinitionError, match=rf"stray.txt of job {stray} does not follow"):
        phyper.run_job(pipeline, "evaluate", batch.key)
    assert not os.path.exists(stray_model_path(next(i for i in pipeline.instances if i.seed == 3)))


def test_a_file_written_by_a_batched_and_an_unbatched_job_is_refused() -> None:
    pipeline = build(3, batch=4)
    pipeline.add_step(lambda instance: None, kind="instance", outputs=[model_path], name="copy")
    with pytest.raises(phyper.PipelineDefinitionError, match=r"model.txt is an output of both `train:[0-9a-f]+` and `copy:"):
        pipeline.plan()
    pipeline = build(3, batch=4)
    pipeline.add_step(lambda instance: None, kind="instance", outputs=[model_path], name="copy", batch=2)
    with pytest.raises(phyper.PipelineDefinitionError, match=r"model.txt is an output of both `train:[0-9a-f]+` and `copy:"):
        pipeline.plan()


def test_a_batched_job_reading_its_own_steps_output_is_refused() -> None:
    pipeline = build(3, batch=None)
    pipeline.add_step(
        lambda instance: None, kind="instance", inputs=[model_path], outputs=[lambda i: os.path.join(i.get_resources_path(), "x")],
        name="again", batch=2,
    )
    pipeline.add_step(
        lambda instance: None, kind="instance", inputs=[lambda i: os.path.join(i.get_resources_path(), "x")],
        outputs=[lambda i: os.path.join(i.get_resources_path(), "y")], name="loop", batch=2,
    )
    pipeline.plan()  # reading another batched step's files is fine
    pipeline.add_step(
        lambda instance: None, kind="instance", inputs=[lambda i: os.path.join(i.get_resources_path(), "z")],
        outputs=[lambda i: os.path.join(i.get_resources_path(), "z")], name="itself", batch=2,
    )
    with pytest.raises(phyper.PipelineDefinitionError, match=r"step `itself` reads .*/z, which its own job `itself:batch-"):
        pipeline.plan()
