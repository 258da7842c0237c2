"""One verdict: batches after membership changes, forcing, looking changes nothing, the runner agrees.

A small batched pipeline written the way the README tells a newcomer (its steps append
to ``starts.log``, so real executions are counted), run in-process with
:func:`phyper.run_job` as an engine would: every engine job the verdict names, and
nothing else. The verdict must name exactly the jobs that then really execute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import pytest

import phyper
from engines import REPO, copy_project, environment
from phyper._results.migrate import apply_pipeline_migration, plan_pipeline_migration
from phyper._results.status import Status, status_lines, status_summary, summarise, summary_lines


class NonKeys:
    n_epochs = 2  # a non-key: never makes a job run again


class Instance(phyper.Parser, NonKeys):
    dataset = "small"
    size = 1
    fold = 0


class WithDropout(Instance):
    """The same project after a new key with a default (what ``phyper migrate`` is for)."""

    dropout = 0.5


def data_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path("data"), "data.json")


OUTPUT_CALLS: list[str] = []
"""Every call of the fit step's output path function (to see which jobs are built)."""


def model_path(instance: Instance) -> str:
    OUTPUT_CALLS.append(instance.get_instance_hash())
    return os.path.join(instance.get_resources_path(), "model.txt")


def summary_path() -> str:
    return os.path.join("derived_data", "results", "summary.json")


def note_start(step: str, key: str) -> None:
    with open("starts.log", "a") as handle:
        handle.write(f"{step}:{key}\n")


def build(
    sizes: list[int], *, batch: int | None = 2, cls: type[Instance] = Instance, fail_size: int | None = None
) -> phyper.Pipeline:
    parser = cls(hashed_resources_folder="derived_data")
    parser.register_new_resource(name="data", dependencies=["dataset"])
    instances = parser.get_instances_from_dictionary({"dataset": ["small", "large"], "size": sizes, "fold": [0, 1]})
    pipeline = phyper.Pipeline(instances)

    @pipeline.per_resource("data", outputs=[data_path])
    def prepare(instance: Instance) -> None:
        note_start("prepare", instance.get_instance_hash("data"))
        Path(data_path(instance)).write_text(json.dumps({"rows": 10 if instance.dataset == "small" else 100}))

    @pipeline.per_instance(inputs=[data_path], outputs=[model_path], batch=batch)
    def fit(instance: Instance) -> None:
        note_start("fit", instance.get_instance_hash())
        if instance.size == fail_size:
            raise ValueError(f"cannot fit size {instance.size}")
        rows = json.loads(Path(data_path(instance)).read_text())["rows"]
        Path(model_path(instance)).write_text(f"{rows * instance.size} {instance.fold}\n")

    @pipeline.aggregate(inputs=[model_path], outputs=[summary_path])
    def summarise_models(instances: list[Instance]) -> None:
        note_start("summarise_models", phyper.AGGREGATE_KEY)
        Path(summary_path()).write_text(json.dumps(sorted(Path(model_path(i)).read_text() for i in instances)))

    return pipeline


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(phyper.BATCH_ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.delenv(phyper.NON_KEYS_ENVIRONMENT_VARIABLE, raising=False)
    return tmp_path


def starts() -> list[str]:
    """Every real execution of a step so far, as ``step:key``, in order."""
    return Path("starts.log").read_text().splitlines() if os.path.exists("starts.log") else []


def members_to_run(pipeline: phyper.Pipeline, forced: Collection[str] = ()) -> list[str]:
    """The ids of the jobs (members, not batches) the verdict says are to run."""
    return [verdict.job.id for verdict in phyper.Verdicts(pipeline.plan(), forced=forced) if verdict.to_run]


def run_as_an_engine(pipeline: phyper.Pipeline, forced: Collection[str] = ()) -> list[str]:
    """Run the engine jobs the verdict names, upstream first (forcing the forced steps'); return what executed."""
    before = len(starts())
    verdicts = phyper.Verdicts(pipeline.plan(), forced=forced)
    for job in verdicts.engine_jobs_to_run():
        phyper.run_job(pipeline, job.step, job.key, force=job.step in forced)
    return starts()[before:]


def assert_runner_does_what_the_verdict_says(pipeline: phyper.Pipeline, forced: Collection[str] = ()) -> list[str]:
    expected = members_to_run(pipeline, forced)
    # the engine jobs to run are the batches (or unbatched jobs) of the members to run
    plan = pipeline.plan()
    engine_ids = {f"{plan.jobs[i].step}:{plan.jobs[i].batch}" if plan.jobs[i].batch else i for i in expected}
    assert engine_ids == {job.id for job in phyper.Verdicts(plan, forced=forced).engine_jobs_to_run()}
    executed = run_as_an_engine(pipeline, forced)
    assert sorted(expected) == sorted(executed)
    assert [] == members_to_run(pipeline)  # and then everything is complete
    assert [] == phyper.Verdicts(pipeline.plan()).engine_jobs_to_run()
    return executed


def fit_ids(pipeline: phyper.Pipeline) -> set[str]:
    return {f"fit:{instance.get_instance_hash()}" for instance in pipeline.instances}


def test_a_fresh_project_runs_every_job_once_and_the_verdict_named_them() -> None:
    pipeline = build([1, 2, 3])  # 12 fits in batches of about 2
    assert 2 + 12 + 1 == len(members_to_run(pipeline))

    executed = assert_runner_does_what_the_verdict_says(pipeline)

    assert 15 == len(executed) == len(set(executed))


def test_after_migrate_apply_batches_whose_members_are_complete_are_complete() -> None:
    run_as_an_engine(build([1, 2, 3]))
    migrated = build([1, 2, 3], cls=WithDropout)
    old_batches = {job.key: job.members for job in build([1, 2, 3]).plan().engine_jobs_of("fit")}
    assert sorted([*fit_ids(migrated), "summarise_models:all"]) == sorted(members_to_run(migrated))  # new hashes

    apply_pipeline_migration(plan_pipeline_migration(migrated))

    # the batch records still list the old hashes; the members' records were renamed
    plan = migrated.plan()
    batch = plan.engine_jobs_of("fit")[0]
    recorded = json.loads(Path(batch.record).read_text())["members"]
    assert recorded == sorted(old_batches[batch.key]) != sorted(batch.members)
    assert [] == members_to_run(migrated)
    assert [] == phyper.Verdicts(plan).engine_jobs_to_run()
    assert [] == assert_runner_does_what_the_verdict_says(migrated)


def test_a_shrunk_grid_reruns_only_the_aggregate() -> None:
    run_as_an_engine(build([1, 2, 3], batch=4))
    shrunk = build([1, 2], batch=4)  # 8 fits: 2 batches instead of 4 of the 12

    assert ["summarise_models:all"] == members_to_run(shrunk)
    assert ["summarise_models:all"] == [job.id for job in phyper.Verdicts(shrunk.plan()).engine_jobs_to_run()]
    assert ["summarise_models:all"] == assert_runner_does_what_the_verdict_says(shrunk)


def test_a_grown_grid_runs_only_the_new_members_and_the_aggregate() -> None:
    run_as_an_engine(build([1, 2]))
    grown = build([1, 2, 3])
    new = fit_ids(grown) - fit_ids(build([1, 2]))

    plan = grown.plan()
    expected = sorted([*new, "summarise_models:all"])
    assert 4 == len(new)
    assert expected == sorted(members_to_run(grown))
    assert {f"fit:{plan.jobs[key].batch}" for key in new} == {
        job.id for job in phyper.Verdicts(plan).engine_jobs_to_run() if job.step == "fit"
    }
    assert expected == sorted(assert_runner_does_what_the_verdict_says(grown))


def test_another_batch_size_plans_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = build([1, 2, 3], batch=4)
    run_as_an_engine(pipeline)
    before = [job.key for job in pipeline.plan().engine_jobs_of("fit")]
    monkeypatch.setenv(phyper.BATCH_ENVIRONMENT_VARIABLE, "fit=1")
    rebatched = build([1, 2, 3], batch=4)
    batches = rebatched.plan().engine_jobs_of("fit")
    assert not set(before) & {job.key for job in batches}  # every batch is new: none has a record
    assert all(not os.path.exists(job.record) for job in batches)

    assert [] == members_to_run(rebatched)
    assert [] == assert_runner_does_what_the_verdict_says(rebatched)


def test_a_deleted_member_output_reruns_its_batch_member_and_what_follows() -> None:
    pipeline = build([1, 2])
    run_as_an_engine(pipeline)
    victim = pipeline.plan().jobs_of("fit")[2]
    os.remove(victim.outputs[0])

    verdicts = phyper.Verdicts(pipeline.plan())
    assert [f"fit:{victim.batch}", "summarise_models:all"] == [job.id for job in verdicts.engine_jobs_to_run()]
    assert f"member {victim.key}: output {victim.outputs[0]} is missing" == verdicts.verdict(
        pipeline.plan().job("fit", str(victim.batch))
    ).reason
    assert [victim.id, "summarise_models:all"] == assert_runner_does_what_the_verdict_says(pipeline)


def test_forcing_a_step_runs_it_and_what_follows_never_its_upstream() -> None:
    pipeline = build([1, 2])
    run_as_an_engine(pipeline)

    verdicts = {verdict.job.id: verdict for verdict in phyper.Verdicts(pipeline.plan(), forced=["fit"])}
    assert {"step `fit` is forced"} == {v.reason for i, v in verdicts.items() if i.startswith("fit:")}
    assert "upstream job" in verdicts["summarise_models:all"].reason
    assert not any(v.to_run for i, v in verdicts.items() if i.startswith("prepare:"))

    executed = assert_runner_does_what_the_verdict_says(pipeline, forced=["fit"])
    assert sorted([*fit_ids(pipeline), "summarise_models:all"]) == sorted(executed)


def test_forcing_an_unknown_step_names_it() -> None:
    with pytest.raises(phyper.UnknownStepError, match="no step `fitt`"):
        phyper.Verdicts(build([1]).plan(), forced=["fitt"])


def test_a_failed_member_is_reported_failed_and_its_batch_reruns_only_it() -> None:
    failing = build([1, 2], batch=100, fail_size=2)  # one batch of 8
    with pytest.raises(phyper.JobFailedError, match="4 of 8 members failed"):
        run_as_an_engine(failing)
    pipeline = build([1, 2], batch=100)

    verdicts = list(phyper.Verdicts(pipeline.plan()))
    failed = sorted(v.job.id for v in verdicts if v.failed)
    assert 4 == len(failed)
    assert {"failed: ValueError: cannot fit size 2"} == {v.reason for v in verdicts if v.failed}
    lines = status_lines(phyper.Verdicts(pipeline.plan()))
    assert ["fit: 4/8 complete, 4 to run in 1 of its 1 batch jobs (4 failed)"] == [
        line for line in lines if line.startswith("fit:")
    ]
    assert sorted([*failed, "summarise_models:all"]) == sorted(assert_runner_does_what_the_verdict_says(pipeline))


def test_a_forced_rerun_that_fails_leaves_the_job_complete_and_says_so() -> None:
    pipeline = build([1, 2], batch=None)
    run_as_an_engine(pipeline)
    job = pipeline.plan().jobs_of("fit")[0]
    record = Path(job.record).read_bytes()

    with pytest.raises(ValueError, match="cannot fit size 1"):
        phyper.run_job(build([1, 2], batch=None, fail_size=1), "fit", job.key, force=True)

    assert record == Path(job.record).read_bytes()
    verdict = phyper.Verdicts(pipeline.plan()).verdict(job)
    assert (False, "complete", "ValueError: cannot fit size 1") == (
        verdict.to_run, verdict.reason, verdict.last_failure.error if verdict.last_failure else None
    )
    lines = status_lines(phyper.Verdicts(pipeline.plan()))
    assert ["fit: 8/8 complete (1 complete whose last rerun failed)"] == [line for line in lines if line.startswith("fit:")]
    assert [f"  {job.id}"] == [line.split(": ")[0] for line in lines if "the last rerun failed at" in line]
    assert [] == assert_runner_does_what_the_verdict_says(pipeline)

    phyper.run_job(pipeline, "fit", job.key, force=True)  # a rerun that succeeds: the failure is history
    assert phyper.Verdicts(pipeline.plan()).verdict(job).last_failure is None
    assert not any("last rerun failed" in line for line in status_lines(phyper.Verdicts(pipeline.plan())))


def test_a_forced_batch_rerun_whose_members_fail_keeps_every_member_complete() -> None:
    pipeline = build([1, 2], batch=100)  # one batch of 8
    run_as_an_engine(pipeline)
    plan = pipeline.plan()
    batch = next(iter(plan.engine_jobs_of("fit")))
    records = {job.id: Path(job.record).read_bytes() for job in [*plan.jobs_of("fit"), batch]}

    with pytest.raises(phyper.JobFailedError, match="4 of 8 members failed"):
        phyper.run_job(build([1, 2], batch=100, fail_size=2), "fit", batch.key, force=True)

    failing = {f"fit:{instance.get_instance_hash()}" for instance in pipeline.instances if instance.size == 2}
    assert 4 == len(failing)
    assert failing == {verdict.job.id for verdict in phyper.Verdicts(plan) if verdict.last_failure is not None}
    assert {job_id: records[job_id] for job_id in [*failing, batch.id]} == {
        job_id: Path(plan.jobs[job_id].record if job_id != batch.id else batch.record).read_bytes()
        for job_id in [*failing, batch.id]
    }
    # the members that ran rewrote their models: the aggregate runs, nothing else
    assert ["summarise_models:all"] == [job.id for job in phyper.Verdicts(pipeline.plan()).engine_jobs_to_run()]
    lines = status_lines(phyper.Verdicts(pipeline.plan()))
    assert ["fit: 8/8 complete (4 complete whose last rerun failed)"] == [line for line in lines if line.startswith("fit:")]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under the project but the plan cache, with its size and modification time."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file() and "plan-cache" not in path.parts
    }


def test_looking_changes_nothing(in_tmp: Path) -> None:
    pipeline = build([1, 2, 3])
    run_as_an_engine(pipeline)
    # invalid records of every kind: an output rewritten, a grid shrunk (stale batch records, an
    # aggregate whose inputs changed), a failed attempt in the log
    first = pipeline.plan().jobs_of("fit")[0]
    Path(first.outputs[0]).write_text("something else entirely\n")
    shrunk = build([1, 2])
    os.remove(shrunk.plan().jobs_of("fit")[1].record)  # a job that never ran, then failed
    with pytest.raises(ValueError, match="cannot fit size 1"):
        phyper.run_job(build([1, 2], fail_size=1), "fit", shrunk.plan().jobs_of("fit")[1].key)
    before = snapshot(in_tmp)

    plan = shrunk.plan(cache=True)
    listed = list(phyper.job_verdicts(shrunk, plan))
    lines = status_lines(phyper.job_verdicts(shrunk, plan), verbose=True)
    verdicts = phyper.Verdicts(plan, forced=["prepare"])
    to_run = verdicts.engine_jobs_to_run()

    assert before == snapshot(in_tmp)
    assert {first.id, shrunk.plan().jobs_of("fit")[1].id, "summarise_models:all"} <= {
        v.job.id for v in listed if v.to_run
    }
    assert any(line.startswith("  fit:") and "failed: ValueError" in line for line in lines)
    assert len(to_run) == len(list(plan.engine_jobs()))


def test_status_builds_only_the_jobs_that_have_a_record() -> None:
    pipeline = build([1, 2, 3, 4, 5], batch=4)  # 20 fits
    plan = pipeline.plan()
    OUTPUT_CALLS.clear()

    fresh = status_lines(phyper.Verdicts(plan))

    assert [] == OUTPUT_CALLS  # nothing has a record: no fit job was built
    batches = len(plan.engine_jobs_of("fit"))
    assert f"fit: 0/20 complete, 20 to run in {batches} of its {batches} batch jobs" in fresh
    assert len(plan.engine_jobs_of("fit")) == len(phyper.Verdicts(plan).engine_jobs_to_run()) - 2 - 1
    assert [] == OUTPUT_CALLS  # nor to name the engine jobs to run
    for job in plan.engine_jobs_of("prepare"):
        phyper.run_job(pipeline, job.step, job.key)
    some = plan.engine_jobs_of("fit")[0]
    phyper.run_job(pipeline, "fit", some.key)
    OUTPUT_CALLS.clear()

    partly = status_lines(phyper.Verdicts(plan))

    assert sorted(some.members) == sorted(OUTPUT_CALLS)
    assert (f"fit: {len(some.members)}/20 complete, {20 - len(some.members)} to run in {batches - 1} of its "
            f"{batches} batch jobs") in partly
    OUTPUT_CALLS.clear()
    assert some not in phyper.Verdicts(plan).engine_jobs_to_run()
    assert sorted(some.members) == sorted(OUTPUT_CALLS)


def test_the_counted_status_equals_the_status_of_every_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    run_as_an_engine(build([1, 2, 3]))
    monkeypatch.setenv(phyper.NON_KEYS_ENVIRONMENT_VARIABLE, "n_epochs=7")
    changed = build([1, 2, 3, 4])  # new members, other non-keys for the complete ones
    victim = changed.plan().jobs_of("prepare")[0]
    os.remove(victim.outputs[0])

    for verbose in (False, True):
        # the same summary (the counting path adds the engine jobs, which a list of verdicts cannot know)
        counted = summary_lines(Status(status_summary(phyper.Verdicts(changed.plan()), verbose).summary, {}), verbose)
        listed = status_lines(summarise_all(changed), verbose)
        assert listed == counted
    counted = status_lines(phyper.Verdicts(changed.plan()))
    assert "prepare: 1/2 complete, 1 to run" == counted[0]
    assert any(line.startswith("warning: ") and "non-key values" in line for line in counted)
    assert any(line.startswith("  n_epochs=2 (now 7): ") for line in counted)


def summarise_all(pipeline: phyper.Pipeline) -> list[phyper.JobVerdict]:
    """Every verdict made and held (what the counting path avoids), for comparison."""
    verdicts = list(phyper.Verdicts(pipeline.plan()))
    assert len(verdicts) == len(summarise(verdicts, None).pending) + sum(not v.to_run for v in verdicts)
    return verdicts


def test_the_looking_commands_change_no_file(tmp_path: Path) -> None:
    """``phyper status/ls/show/plan/collect`` on a batched project with stale state leave every file as it was."""
    project = copy_project(REPO / "tests" / "fixtures" / "newcomer", tmp_path / "newcomer")
    env = environment(PHYPER_BATCH="fit=2")

    def phyper_command(*arguments: str, **extra: str) -> str:
        completed = subprocess.run(
            [sys.executable, "-m", "phyper", *arguments], cwd=project, env={**env, **extra}, capture_output=True,
            text=True,
        )
        assert 0 == completed.returncode, completed.stderr
        return completed.stdout

    for job in json.loads(phyper_command("plan"))["jobs"]:
        phyper_command("run", job["step"], job["key"])
    # stale state: a shrunk grid (batch records listing old members, an aggregate whose inputs
    # changed), a rewritten output, and a failed attempt in the job log
    config = project / "config.py"
    config.write_text(config.read_text().replace("'size': [1, 2]", "'size': [1]"))
    fits = [job for job in json.loads(phyper_command("plan"))["jobs"] if job["step"] == "fit"]
    Path(project, fits[0]["outputs"][0]).write_text("999 0\n")
    os.remove(Path(project, "derived_data", ".phyper", "done", "fit", f"{fits[1]['key']}.json"))  # never ran, then failed
    failed = subprocess.run(
        [sys.executable, "-m", "phyper", "run", "fit", fits[1]["key"]], cwd=project,
        env={**env, "PHYPER_NON_KEYS": "fail_on=1"}, capture_output=True, text=True,
    )
    assert 0 != failed.returncode
    before = snapshot(project)

    status = phyper_command("status", "-v")
    outputs = [
        phyper_command("status"), phyper_command("ls"), phyper_command("show", fits[0]["key"]),
        phyper_command("plan"), phyper_command("collect"),
    ]

    assert before == snapshot(project)
    assert f"  fit:{fits[1]['key']}: failed: ValueError: cannot fit size 1" in status.splitlines()
    assert any(line.startswith(f"  fit:{fits[0]['key']}: output ") for line in status.splitlines())
    assert "  collect:all: " in status
    assert all(outputs)
