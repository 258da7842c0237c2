"""A rerun that fails: every tool gives one answer, and the failure is shown.

A forced rerun (``snakemake -R fit``, ``doit -a fit``) whose step raises keeps the job's
earlier record: the runner replaces a record only with a complete new one. So

* when the failed run left the outputs as they were, the job is complete (its result is
  intact and made by today's code) under `phyper status`, ``snakemake -n`` and doit alike,
  and `phyper status` and the report show the failure;
* when the failed run damaged an output first, the record no longer checks out: the job
  is to run, ``failed``, for every tool, and the next run runs it once.

The project is `tests/fixtures/newcomer` with one more knob: ``damage_on`` makes `fit`
write half a model before raising. Every start of a step is counted in `starts.log`.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from engines import BIN, REPO, copy_project, engine_command, environment, run

NEWCOMER = REPO / "tests" / "fixtures" / "newcomer"
SNAKEMAKE = str(BIN / "snakemake")
DOIT = str(BIN / "doit")
FAILED_SIZE = 2
FAILING_FITS = 4  # 2 data sets x 2 folds have size 2

pytestmark = pytest.mark.faults


@pytest.fixture
def project(tmp_path: Path, backend: str) -> Path:
    """The newcomer project with a `damage_on` knob, run to completion by ``backend``."""
    folder = copy_project(NEWCOMER, tmp_path / "newcomer")
    config = folder / "config.py"
    config.write_text(config.read_text().replace(
        "    payload_kb = 1      # how much `fit` writes\n",
        "    payload_kb = 1      # how much `fit` writes\n"
        "    damage_on = -1      # `fit` writes half a model, then raises, for the instance with this `size`\n",
    ))
    pipeline = folder / "pipeline.py"
    raising = "    if instance.size == instance.fail_on:\n"
    assert raising in pipeline.read_text()
    pipeline.write_text(pipeline.read_text().replace(raising, (
        "    if instance.size == instance.damage_on:\n"
        "        with open(model_path(instance), 'w') as handle:\n"
        "            handle.write('half')\n"
        "        raise ValueError(f'damaged size {instance.size}')\n"
    ) + raising))
    run(engine_command(backend, 2), folder)
    return folder


def starts(project: Path) -> list[str]:
    """``step:key`` of every start of a step function, in order."""
    path = project / "starts.log"
    return [":".join(line.split()[:2]) for line in path.read_text().splitlines()] if path.exists() else []


def status(project: Path, *options: str) -> str:
    return run([sys.executable, "-m", "phyper", "status", "-v", *options], project).stdout


def status_to_run(project: Path) -> set[str]:
    lines = status(project).splitlines()
    heading = next((index for index, line in enumerate(lines) if line.startswith("to run (")), None)
    if heading is None:
        return set()
    listed = []
    for line in lines[heading + 1 :]:
        if not line.startswith("  "):
            break
        listed.append(line.strip().split(": ", 1)[0])
    return set(listed)


def snakemake_plan(project: Path) -> set[str]:
    dry = run([SNAKEMAKE, "-n", "-p"], project).stdout
    jobs = set(re.findall(r" -m phyper run pipeline:pipeline (\S+) (\S+) --engine snakemake", dry))
    assert ("Nothing to be done" in dry) == (not jobs), dry[-2000:]
    return {f"{step}:{key}" for step, key in jobs}


def doit_plan(project: Path) -> set[str]:
    listing = run([DOIT, "list", "--all", "--status"], project).stdout
    return {line.split()[1] for line in listing.splitlines() if line.startswith("R ") and ":" in line.split()[1]}


def force_fit(backend: str, project: Path, **env: str) -> str:
    """A forced rerun of every `fit` job that goes on past failures; what the engine printed."""
    if backend == "snakemake":
        command = [SNAKEMAKE, "-j1", "-k", "-R", "fit"]
    else:
        command = [DOIT, "--continue", "-a", "fit"]
    forced = run(command, project, environment(**env), check=False)
    assert 0 != forced.returncode
    return forced.stdout + forced.stderr


def keys_of_size(project: Path, size: int) -> set[str]:
    code = (
        "import json, pipeline\n"
        f"print(json.dumps([i.get_instance_hash() for i in pipeline.pipeline.instances if i.size == {size}]))"
    )
    return set(json.loads(run([sys.executable, "-c", code], project).stdout))


def state_files(project: Path) -> dict[str, bytes]:
    """Every model and every completion record, by path."""
    root = project / "derived_data"
    found = [*root.glob("all/*/model.txt"), *root.glob(".phyper/done/*/*.json")]
    return {str(path.relative_to(root)): path.read_bytes() for path in found}


def test_a_failed_forced_rerun_leaves_its_jobs_complete_for_every_tool_and_shows_the_failure(
    backend: str, project: Path
) -> None:
    failing = keys_of_size(project, FAILED_SIZE)
    before = state_files(project)
    started = len(starts(project))

    printed = force_fit(backend, project, PHYPER_NON_KEYS=f"fail_on={FAILED_SIZE}")

    # every fit started once; the aggregate waits for fits that failed
    assert Counter(f"fit:{key}" for key in keys_of_size(project, 1) | failing) == Counter(starts(project)[started:])
    if backend == "snakemake":
        assert FAILING_FITS == printed.count("Restored previous version of derived_data/.phyper/done/fit/")
    # the failed jobs' models and records are exactly as they were
    for key in failing:
        assert before[f"all/{key}/model.txt"] == (project / "derived_data" / "all" / key / "model.txt").read_bytes()
        assert before[f".phyper/done/fit/{key}.json"] == (
            project / "derived_data" / ".phyper" / "done" / "fit" / f"{key}.json"
        ).read_bytes()
    # one answer: the fits are complete (the size-1 fits rewrote their models: the aggregate runs)
    assert ({"collect:all"}, {"collect:all"}, {"collect:all"}) == (
        status_to_run(project), snakemake_plan(project), doit_plan(project)
    )
    lines = status(project).splitlines()
    assert "fit: 8/8 complete (4 complete whose last rerun failed)" in lines
    assert "last rerun failed, earlier result intact and current (4):" in lines
    shown = {line.split(": ", 1)[0].strip(): line.split(": ", 1)[1] for line in lines if "the last rerun failed at" in line}
    assert {f"fit:{key}" for key in failing} == set(shown)
    for job_id, words in shown.items():
        assert re.fullmatch(
            r"complete; the last rerun failed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: ValueError: cannot fit size 2 "
            rf"\(phyper show {job_id[4:16]}\)",
            words,
        ), words

    # the next run runs the aggregate only, once
    started = len(starts(project))
    run(engine_command(backend, 2), project)
    assert ["collect:all"] == starts(project)[started:]
    assert (set(), set(), set()) == (status_to_run(project), snakemake_plan(project), doit_plan(project))
    # the failure is still the last attempt of those jobs: still shown, still complete
    assert "fit: 8/8 complete (4 complete whose last rerun failed)" in status(project).splitlines()


def test_a_failed_rerun_that_damaged_its_output_is_to_run_for_every_tool(backend: str, project: Path) -> None:
    damaged = keys_of_size(project, FAILED_SIZE)

    force_fit(backend, project, PHYPER_NON_KEYS=f"damage_on={FAILED_SIZE}")

    expected = {f"fit:{key}" for key in damaged} | {"collect:all"}
    assert (expected, expected, expected) == (status_to_run(project), snakemake_plan(project), doit_plan(project))
    lines = status(project).splitlines()
    assert "fit: 4/8 complete, 4 to run (4 failed)" in lines
    for key in damaged:
        assert f"  fit:{key}: failed: ValueError: damaged size 2" in lines
    assert not any("the last rerun failed" in line for line in lines)

    started = len(starts(project))
    run(engine_command(backend, 2), project)
    assert Counter(expected) == Counter(starts(project)[started:])
    assert (set(), set(), set()) == (status_to_run(project), snakemake_plan(project), doit_plan(project))
    assert "fit: 8/8 complete" in status(project).splitlines()


def test_status_ls_and_the_report_count_the_same(backend: str, project: Path) -> None:
    # every kind of job at once: complete, to run, failed, complete after a failed rerun
    force_fit(backend, project, PHYPER_NON_KEYS=f"fail_on={FAILED_SIZE}")
    (project / "derived_data" / "all" / sorted(keys_of_size(project, 1))[0] / "model.txt").unlink()

    from_status = json.loads(status(project, "--json"))["steps"]
    from_ls = json.loads(run([sys.executable, "-m", "phyper", "ls", "--json"], project).stdout)["steps"]
    code = (
        "import json, pipeline\n"
        "from phyper._results.report import _page_data\n"
        "print(json.dumps(_page_data(pipeline.pipeline, None, None, None)['steps']))"
    )
    from_report = json.loads(run([sys.executable, "-c", code], project).stdout)

    expected = [
        {"step": "prepare", "jobs": 2, "complete": 2, "to_run": 0, "failed": 0},
        {"step": "fit", "jobs": 8, "complete": 7, "to_run": 1, "failed": 0},
        {"step": "collect", "jobs": 1, "complete": 0, "to_run": 1, "failed": 0},
    ]
    fields = ("jobs", "complete", "to_run", "failed")
    assert expected == [{"step": row["step"], **{name: row[name] for name in fields}} for row in from_status]
    assert expected == [{"step": row["step"], **{name: row[name] for name in fields}} for row in from_ls]
    assert expected == [{"step": row["name"], **{name: row[name] for name in fields}} for row in from_report]
    assert [0, 4, 0] == [row["rerun_failed"] for row in from_report]
