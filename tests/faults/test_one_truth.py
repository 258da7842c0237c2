"""One truth about what is done, off the happy path: faults injected into real runs.

The project is `tests/fixtures/newcomer`, written the way the README tells a newcomer
(its 7-line Snakefile, no workflow profile). Every start of a step appends a line to
`starts.log`, so "no job ran twice" is checked on the step functions themselves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engines import BIN, REPO, copy_project, engine_command, environment, job_log, run

NEWCOMER = REPO / "tests" / "fixtures" / "newcomer"
SNAKEMAKE = str(BIN / "snakemake")
DOIT = str(BIN / "doit")
ALL_JOBS = 2 + 8 + 1

pytestmark = pytest.mark.faults


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = copy_project(NEWCOMER, tmp_path / "newcomer")
    started: list[subprocess.Popen[str]] = []
    folder.joinpath(".processes").write_text("")
    yield folder
    # nothing a test started may outlive it
    for line in folder.joinpath(".processes").read_text().split():
        try:
            os.killpg(int(line), signal.SIGKILL)
        except ProcessLookupError:
            pass
    del started


def start(command: list[str], project: Path, **env: str) -> subprocess.Popen[str]:
    """Start a command in the background, in its own session (so teardown can kill it all).

    Its output goes to a file, not a pipe: orphans of a killed engine would hold a pipe open.
    """
    log = project / f".engine-{len(list(project.glob('.engine-*.log')))}.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, cwd=project, env=environment(**env), stdout=output, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )
    process.log = log  # type: ignore[attr-defined]
    with open(project / ".processes", "a") as handle:
        handle.write(f"{process.pid}\n")
    return process


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    process.wait(timeout=timeout)
    return process.returncode, process.log.read_text()  # type: ignore[attr-defined]


def starts(project: Path) -> list[tuple[str, str, int]]:
    """(step, key, pid) of every start of a step function, in order."""
    path = project / "starts.log"
    if not path.exists():
        return []
    return [(step, key, int(pid)) for step, key, pid in (line.split() for line in path.read_text().splitlines())]


def start_counts(project: Path) -> Counter[str]:
    return Counter(f"{step}:{key}" for step, key, _ in starts(project))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its orphaned parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def phyper_status(project: Path, **env: str) -> str:
    return run([sys.executable, "-m", "phyper", "status", "pipeline:pipeline", "-v"], project, environment(**env)).stdout


def status_to_run(project: Path) -> set[str]:
    """Job ids `phyper status -v` lists to run."""
    lines = phyper_status(project).splitlines()
    heading = next((index for index, line in enumerate(lines) if line.startswith("to run (")), None)
    listed: set[str] = set()
    for line in lines[heading + 1 :] if heading is not None else []:
        if not line.startswith("  "):
            break
        listed.add(line.strip().split(": ", 1)[0])
    return listed


def snakemake_to_run(project: Path) -> Counter[str]:
    """Jobs per rule that `snakemake -n` would run (the `all` rule left out)."""
    dry = run([SNAKEMAKE, "-n"], project).stdout
    if "Nothing to be done" in dry:
        return Counter()
    table = dry[dry.index("Job stats:") :].split("Reasons:")[0]
    counts: Counter[str] = Counter()
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "all"):
            counts[parts[0]] = int(parts[1])
    return counts


def doit_to_run(project: Path) -> set[str]:
    """Sub-tasks `doit list --all --status` says are not up to date."""
    listing = run([DOIT, "list", "--all", "--status"], project).stdout
    return {line.split()[1] for line in listing.splitlines() if line.startswith("R ") and ":" in line.split()[1]}


def per_step(job_ids: set[str]) -> Counter[str]:
    return Counter(job_id.split(":")[0] for job_id in job_ids)


def fit_keys(project: Path) -> list[str]:
    return sorted(path.stem for path in (project / "derived_data" / ".phyper" / "done" / "fit").glob("*.json"))


# -- concurrent runs -----------------------------------------------------------------------


@pytest.mark.doit
def test_two_doit_runs_at_once_run_every_job_once(project: Path) -> None:
    first = start(engine_command("doit", 4), project, PHYPER_NON_KEYS="sleep_s=0.5")
    second = start(engine_command("doit", 4), project, PHYPER_NON_KEYS="sleep_s=0.5")

    results = [finish(first), finish(second)]

    assert [0, 0] == [code for code, _ in results], results
    assert {1} == set(start_counts(project).values())
    assert ALL_JOBS == len(start_counts(project))
    assert set() == status_to_run(project)


@pytest.mark.snakemake
@pytest.mark.doit
def test_snakemake_and_doit_at_once_run_every_job_once(project: Path) -> None:
    snakemake = start(engine_command("snakemake", 4), project, PHYPER_NON_KEYS="sleep_s=0.5")
    doit = start(engine_command("doit", 4), project, PHYPER_NON_KEYS="sleep_s=0.5")

    results = [finish(snakemake), finish(doit)]

    assert [0, 0] == [code for code, _ in results], results
    assert {1} == set(start_counts(project).values())
    assert ALL_JOBS == len(start_counts(project))
    assert Counter() == snakemake_to_run(project)
    assert set() == doit_to_run(project)


def test_a_manual_run_of_a_job_an_engine_is_running_waits_then_does_nothing(project: Path, backend: str) -> None:
    engine = start(engine_command(backend, 1), project, PHYPER_NON_KEYS="sleep_s=2")
    wait_until(lambda: any(step == "fit" for step, _, _ in starts(project)), "the first fit to start")
    key = next(key for step, key, _ in starts(project) if step == "fit")

    manual = run([sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "fit", key], project)
    code, output = finish(engine)

    assert 0 == code, output
    assert "is being run by another process" in manual.stderr
    assert "another process ran it meanwhile); nothing to do" in manual.stdout
    assert 1 == start_counts(project)[f"fit:{key}"]
    assert {1} == set(start_counts(project).values())


# -- crashes ---------------------------------------------------------------------------------


def test_killing_the_engine_only_then_rerunning_redoes_no_finished_job(project: Path, backend: str) -> None:
    engine = start(engine_command(backend, 4), project, PHYPER_NON_KEYS="sleep_s=3")
    wait_until(lambda: sum(step == "fit" for step, _, _ in starts(project)) >= 2, "two fits to start")

    os.kill(engine.pid, signal.SIGKILL)  # the engine only: its jobs go on
    engine.wait()
    orphans = [(key, pid) for step, key, pid in starts(project) if step == "fit"]
    wait_until(lambda: not any(alive(pid) for _, pid in orphans), "the orphaned jobs to finish")
    finished = {f"fit:{entry['key']}" for entry in job_log(project) if entry.get("status") == "done"}
    rerun = run(engine_command(backend, 4), project)

    assert {f"fit:{key}" for key, _ in orphans} <= finished, "the orphaned jobs finished after their engine died"
    assert {1} == set(start_counts(project).values()), rerun.stdout
    assert ALL_JOBS == len(start_counts(project))
    assert set() == status_to_run(project)


def test_killing_a_job_mid_write_reruns_only_that_job(project: Path, backend: str) -> None:
    engine = start(engine_command(backend, 1), project, PHYPER_NON_KEYS="sleep_s=3")
    wait_until(lambda: any(step == "fit" for step, _, _ in starts(project)), "a fit to start")
    _, key, pid = next(entry for entry in starts(project) if entry[0] == "fit")
    folder = project / "derived_data" / "all" / key
    wait_until(lambda: any(".phyper-tmp-" in path.name for path in folder.iterdir()), "the fit to be writing")

    os.kill(pid, signal.SIGKILL)
    code, _ = finish(engine)
    assert 0 != code
    assert not (folder / "model.txt").exists()
    before = start_counts(project)
    run(engine_command(backend, 1), project)
    again = start_counts(project) - before

    assert [f"fit:{key}"] == [job for job, count in start_counts(project).items() if count == 2]
    assert 1 == again[f"fit:{key}"]
    assert [] == [path.name for path in folder.iterdir() if ".phyper-tmp-" in path.name]
    assert set() == status_to_run(project)


def test_killing_a_batch_mid_member_reruns_only_its_unfinished_members(project: Path, backend: str) -> None:
    batched = {"PHYPER_BATCH": "fit=8"}  # the 8 fits in one engine job, one after the other
    engine = start(engine_command(backend, 1), project, PHYPER_NON_KEYS="sleep_s=1", **batched)
    wait_until(lambda: sum(step == "fit" for step, _, _ in starts(project)) >= 3, "a third member to start")
    fits = [(key, pid) for step, key, pid in starts(project) if step == "fit"]
    assert 1 == len({pid for _, pid in fits}), "the members run in one process"
    killed_key, batch_pid = fits[-1]
    os.kill(batch_pid, signal.SIGKILL)  # the batch job, mid-way through its third member
    code, _ = finish(engine)
    assert 0 != code
    done_before = {str(entry["key"]) for entry in job_log(project) if entry["step"] == "fit" and entry.get("status") == "done"}
    assert killed_key not in done_before and len(done_before) >= 2

    run(engine_command(backend, 1), project, environment(**batched))
    counts = start_counts(project)
    assert [f"fit:{killed_key}"] == [job for job, count in counts.items() if count == 2]
    assert {1} == {counts[f"fit:{key}"] for key in done_before}, "finished members are not run again"
    assert 8 == sum(job.startswith("fit:") for job in counts)
    assert set() == status_to_run(project)
    if backend == "doit":
        assert set() == doit_to_run(project)
    else:
        assert Counter() == snakemake_to_run(project)


# -- reruns by hand, forced reruns, failures -------------------------------------------------


def test_after_a_job_rerun_by_hand_status_snakemake_and_doit_name_the_same_jobs(project: Path) -> None:
    run(engine_command("snakemake", 4), project)
    key = fit_keys(project)[0]

    skipped = run([sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "fit", key], project)
    assert "its completion record is valid); nothing to do" in skipped.stdout
    assert (set(), Counter(), set()) == (status_to_run(project), snakemake_to_run(project), doit_to_run(project))

    run([sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "fit", key, "--force"], project)

    assert {"collect:all"} == status_to_run(project)
    assert Counter({"collect": 1}) == snakemake_to_run(project)
    assert {"collect:all"} == doit_to_run(project)
    before = start_counts(project)
    run(engine_command("doit", 4), project)
    assert Counter({"collect:all": 1}) == start_counts(project) - before
    assert (set(), Counter(), set()) == (status_to_run(project), snakemake_to_run(project), doit_to_run(project))


def test_deleting_a_model_makes_every_tool_name_that_fit_and_the_aggregate(project: Path) -> None:
    run(engine_command("doit", 4), project)
    key = fit_keys(project)[3]
    (project / "derived_data" / "all" / key / "model.txt").unlink()

    expected = {f"fit:{key}", "collect:all"}
    assert expected == status_to_run(project)
    assert expected == doit_to_run(project)
    assert per_step(expected) == snakemake_to_run(project)


def test_the_engines_force_flags_still_force(project: Path) -> None:
    run(engine_command("doit", 4), project)

    run([SNAKEMAKE, "-j4", "--forcerun", "fit"], project)
    forced_by_snakemake = start_counts(project)
    run([DOIT, "-a", "-n", "4", "fit"], project)
    forced_by_doit = start_counts(project) - forced_by_snakemake

    assert {2} == {count for job, count in forced_by_snakemake.items() if job.startswith(("fit:", "collect:"))}
    assert {1} == {count for job, count in forced_by_snakemake.items() if job.startswith("prepare:")}
    assert 8 == sum(1 for job in forced_by_doit if job.startswith("fit:"))


def test_a_step_that_raises_is_named_and_status_shows_its_error(project: Path, backend: str) -> None:
    failed = run(engine_command(backend, 1), project, environment(PHYPER_NON_KEYS="fail_on=2"), check=False)

    assert 0 != failed.returncode
    assert "cannot fit size 2" in failed.stdout + failed.stderr
    assert "fit(dataset=" in failed.stdout + failed.stderr and "size=2" in failed.stdout + failed.stderr
    status = phyper_status(project, PHYPER_NON_KEYS="fail_on=2")
    assert "failed: ValueError: cannot fit size 2" in status
    failures = [entry for entry in job_log(project) if entry.get("status") == "failed"]
    assert failures and {"ValueError: cannot fit size 2"} == {entry["error"] for entry in failures}
    assert all("size=2" in str(entry["label"]) for entry in failures)


def test_engine_output_names_each_job_by_step_and_key_values(project: Path) -> None:
    dry = run([SNAKEMAKE, "-n"], project).stdout

    assert "None" not in [line.strip() for line in dry.splitlines()]
    assert "phyper fit(dataset=small size=1 fold=0)" in dry
    assert "phyper prepare(dataset=large)" in dry
    assert "phyper collect(all)" in dry


# -- provenance of non-keys ---------------------------------------------------------------------


def test_results_made_with_other_non_keys_are_listed_but_never_rerun(project: Path) -> None:
    run(engine_command("doit", 4), project, environment(PHYPER_NON_KEYS="payload_kb=2"))

    status = phyper_status(project)

    assert set() == status_to_run(project)
    assert "warning: 11 job(s) made with non-key values other than the current ones" in status
    assert "payload_kb=2 (now 1)" in status
    assert (Counter(), set()) == (snakemake_to_run(project), doit_to_run(project))


# -- full disks, read-only folders, corrupt manifests -------------------------------------------


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            raise AssertionError(f"CI must be able to mount a small filesystem: {mounted.stderr}")
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")


@pytest.fixture
def small_disk(project: Path) -> Iterator[Path]:
    """The project's derived_data on a 1 MiB filesystem (tmpfs counts 4 KiB a file)."""
    folder = project / "derived_data"
    _mount_tmpfs(folder, "1m")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_a_clear_error_and_the_earlier_result_stays_complete(project: Path, small_disk: Path) -> None:
    run(engine_command("doit", 4), project)
    key = fit_keys(project)[0]
    model = small_disk / "all" / key / "model.txt"
    record = small_disk / ".phyper" / "done" / "fit" / f"{key}.json"
    before = {path: path.read_bytes() for path in small_disk.rglob("*") if path.is_file() and "locks" not in path.parts and path.name != "jobs.jsonl"}

    failed = run(
        [sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "fit", key, "--force"],
        project, environment(PHYPER_NON_KEYS="payload_kb=2000"), check=False,
    )

    assert 2 == failed.returncode
    assert "No space left on device" in failed.stderr and str(Path("derived_data") / "all" / key) in failed.stderr
    assert "free space" in failed.stderr
    # a forced rerun that failed leaves the earlier record and model as they were: complete
    assert (before[model], before[record]) == (model.read_bytes(), record.read_bytes())
    assert before == {path: path.read_bytes() for path in before}
    assert set() == status_to_run(project)
    shown = [line for line in phyper_status(project).splitlines() if line.startswith(f"  fit:{key}: ")]
    assert 1 == len(shown) and "complete; the last rerun failed at" in shown[0] and "No space left on device" in shown[0]


def test_a_read_only_folder_is_a_clear_error_naming_it(project: Path, small_disk: Path) -> None:
    run(engine_command("doit", 4), project)
    key = fit_keys(project)[0]
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    failed = run(
        [sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "fit", key, "--force"], project, check=False
    )

    assert 2 == failed.returncode
    assert "Read-only file system" in failed.stderr and "derived_data" in failed.stderr
    assert "make that folder writable" in failed.stderr


@pytest.mark.parametrize("damage", ["truncated", "edited"])
def test_a_damaged_manifest_is_a_hard_named_error(project: Path, damage: str) -> None:
    run(engine_command("doit", 4), project)
    key = fit_keys(project)[0]
    manifest = project / "derived_data" / "all" / key / "phyper-manifest.json"
    if damage == "truncated":
        manifest.write_text(manifest.read_text()[:40])
    else:
        data = json.loads(manifest.read_text())
        data["key_values"]["size"] = 99
        manifest.write_text(json.dumps(data))

    manual = run([sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "fit", key], project, check=False)
    (project / "derived_data" / "all" / key / "model.txt").unlink()
    engine = run(engine_command("snakemake", 1), project, check=False)

    expected = "ManifestError" if damage == "truncated" else "ManifestMismatchError"
    assert 2 == manual.returncode
    assert expected in manual.stderr and str(Path("derived_data") / "all" / key) in manual.stderr
    assert 0 != engine.returncode
    assert expected in engine.stdout + engine.stderr
    assert not (project / "derived_data" / "all" / key / "model.txt").exists()


def snapshot(project: Path) -> dict[str, tuple[int, int]]:
    """Every file of the project (path -> size, modification time) but the caches and logs a look writes.

    Left out: Snakemake's logs and file-status cache, phyper's plan cache (any engine start
    stores the plan) and this test's engine logs; results, records, Snakemake's locks,
    metadata and markers are all in.
    """
    cached = (".snakemake/log", ".snakemake/iocache", "plan-cache")
    return {
        str(path.relative_to(project)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in project.rglob("*")
        if path.is_file() and not any(part in str(path) for part in cached) and not path.name.startswith(".engine-")
    }


@pytest.mark.snakemake
def test_after_a_killed_snakemake_a_dry_run_just_works_and_changes_nothing(project: Path) -> None:
    engine = start(engine_command("snakemake", 1), project, PHYPER_NON_KEYS="sleep_s=1")
    wait_until(lambda: sum(step == "fit" for step, _, _ in starts(project)) >= 2, "a second fit to start")
    os.kill(engine.pid, signal.SIGKILL)  # Snakemake itself, as a crash or `kill -9` would
    code, _ = finish(engine)
    locks = sorted(path.name for path in (project / ".snakemake" / "locks").iterdir())
    # its orphaned job finishes on its own (it holds its phyper lock)
    wait_until(lambda: not any(alive(pid) for _, _, pid in starts(project)), "the orphaned job to finish")
    before = snapshot(project)

    dry = run([SNAKEMAKE, "-n"], project)

    assert (-signal.SIGKILL, ["0.input.lock", "0.output.lock"]) == (code, locks)  # a crash's leftovers
    assert "Directory cannot be locked" not in dry.stdout + dry.stderr
    assert "--rerun-triggers" not in dry.stdout and "--cleanup-metadata" not in dry.stdout
    assert "holds the locks of a Snakemake run that is gone" in dry.stderr
    assert "fit" in snakemake_to_run(project)
    assert before == snapshot(project)  # the dry run deleted nothing, not even the stale locks
    run(engine_command("snakemake", 1), project, environment())
    assert Counter() == snakemake_to_run(project)
    assert set() == status_to_run(project)
    assert not list((project / ".snakemake" / "locks").iterdir())
