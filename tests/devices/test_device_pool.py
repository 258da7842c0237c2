"""The device pool with fake devices (``PHYPER_GPUS=0,1`` on a machine with no GPU).

The project is `tests/fixtures/gpus`: every job of its `train` step (``gpus=1``) appends
the ``CUDA_VISIBLE_DEVICES`` it saw and its start and end times to
`device_lines.txt`. From those lines alone: every job got the devices it asked for,
and at no moment did more jobs hold a device than its shares allow. Real engines, real
job processes, real locks; each test has a pool folder of its own
(``PHYPER_DEVICE_POOL``), so parallel test runs never share devices.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engines import REPO, copy_project, engine_command, environment, job_log, run
from phyper._planning.keys import group_into_batches
from phyper._results.report import SHORT_HASH

GPUS = REPO / "tests" / "fixtures" / "gpus"
TRAIN_JOBS = 8


@dataclass(frozen=True)
class Line:
    """One job's line in device_lines.txt."""

    key: str
    devices: tuple[str, ...]
    started: float
    finished: float
    pid: int


def lines(*projects: Path) -> list[Line]:
    found = []
    for project in projects:
        path = project / "device_lines.txt"
        for text in path.read_text().splitlines() if path.exists() else []:
            key, devices, started, finished, pid = text.split()
            found.append(Line(key, tuple(devices.split(",")) if devices != "-" else (), float(started),
                              float(finished), int(pid)))
    return found


def most_at_once(jobs: list[Line]) -> dict[str, int]:
    """Device -> the most jobs that held it at the same moment (ends before starts at a tie)."""
    events: dict[str, list[tuple[float, int]]] = {}
    for job in jobs:
        for device in job.devices:
            events.setdefault(device, []).extend([(job.started, 1), (job.finished, -1)])
    most = {}
    for device, changes in events.items():
        now = top = 0
        for _, change in sorted(changes):
            now += change
            top = max(top, now)
        most[device] = top
    return most


def overlap_violations(jobs: list[Line], share: float) -> int:
    """Pairs of jobs that held a device at the same time beyond what ``share`` allows."""
    capacity = math.floor(1 / share + 1e-9) if share < 1 else 1
    violations = 0
    for job in jobs:
        for device in job.devices:
            sharing = [other for other in jobs if device in other.devices
                       and other.started < job.finished and job.started < other.finished]
            # at the moment this job started, who held the device (itself included)
            at_start = [other for other in sharing if other.started <= job.started]
            violations += len(at_start) > capacity
    return violations


def figures(label: str, jobs: list[Line], share: float) -> str:
    text = (f"{label}: {len(jobs)} jobs, most at once per device {dict(sorted(most_at_once(jobs).items()))}, "
            f"overlap violations {overlap_violations(jobs, share)}")
    print(text)
    return text


def gpu_environment(pool: Path, **extra: str) -> dict[str, str]:
    env = environment(PHYPER_DEVICE_POOL=str(pool), GPU_TEST_SLEEP="0.3", **extra)
    for name in ("CUDA_VISIBLE_DEVICES", "PHYPER_STEP_GPUS", "SLURM_JOB_ID"):
        if name not in extra:
            env.pop(name, None)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(GPUS, tmp_path / "gpus")


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    return tmp_path / "pool"


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:  # nothing a test started outlives it
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start(command: list[str], cwd: Path, env: dict[str, str], started: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    started.append(process)
    return process


def train_keys(project: Path) -> list[str]:
    listed = run([sys.executable, "-c", "import config; print(' '.join(i.get_instance_hash() for i in config.instances))"],
                 project)
    return listed.stdout.split()


def test_every_job_gets_its_own_device_and_no_device_is_shared(backend: str, project: Path, pool: Path) -> None:
    run(engine_command(backend, jobs=4), project, gpu_environment(pool, PHYPER_GPUS="0,1"))

    jobs = [line for line in lines(project) if line.key != "all"]
    text = figures(f"{backend}, gpus=1 on 2 devices, -j4", jobs, 1)
    assert TRAIN_JOBS == len(jobs) == len({job.key for job in jobs})
    assert all(len(job.devices) == 1 and job.devices[0] in {"0", "1"} for job in jobs), text
    assert all(count <= 1 for count in most_at_once(jobs).values()), text
    assert 0 == overlap_violations(jobs, 1), text
    # the aggregate needs no GPU: its job saw the engine's environment, untouched
    assert [()] == [line.devices for line in lines(project) if line.key == "all"]
    # the job log names the devices each job was given, the same the step saw
    logged = {str(entry["key"]): tuple(entry["devices"]) for entry in job_log(project)  # type: ignore[arg-type]
              if entry["step"] == "train" and entry["status"] == "done"}
    assert {job.key: job.devices for job in jobs} == logged
    assert all("devices" not in entry for entry in job_log(project) if entry["step"] == "summarise")


def test_a_share_packs_jobs_on_one_device_never_beyond_it(
    backend: str, project: Path, pool: Path, started: list[subprocess.Popen[str]]
) -> None:
    # a job run by hand holds its half of the only device until told; the engine's 7 other
    # jobs can only finish meanwhile if the pool packs them on the other half (never a third)
    held_key = train_keys(project)[0]
    env = gpu_environment(pool, PHYPER_GPUS="0", PHYPER_STEP_GPUS="train=0.5", GPU_TEST_HOLD=held_key)
    holder = start([sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "train", held_key], project, env, started)
    wait_for(lambda: (project / "holding").exists(), "the first job to hold half of device 0")

    engine = start(engine_command(backend, jobs=4), project, env, started)
    wait_for(lambda: len(lines(project)) == TRAIN_JOBS - 1, "the other jobs to run beside it", timeout=240)
    (project / "release").write_text("")
    outputs = [process.communicate(timeout=240)[0] for process in (holder, engine)]

    assert [0, 0] == [holder.returncode, engine.returncode], outputs
    jobs = [line for line in lines(project) if line.key != "all"]
    text = figures(f"{backend}, gpus=0.5 on 1 device, -j4", jobs, 0.5)
    assert TRAIN_JOBS == len(jobs) == len({job.key for job in jobs})
    assert all(("0",) == job.devices for job in jobs), text
    (held,) = [job for job in jobs if job.key == held_key]
    assert all(held.started < job.started and job.finished < held.finished for job in jobs if job is not held), text
    assert {"0": 2} == most_at_once(jobs), text
    assert 0 == overlap_violations(jobs, 0.5), text


@pytest.mark.snakemake
@pytest.mark.doit
def test_two_engines_on_two_projects_at_once_share_the_machines_devices(tmp_path: Path, pool: Path) -> None:
    first = copy_project(GPUS, tmp_path / "first")
    second = copy_project(GPUS, tmp_path / "second")
    env = gpu_environment(pool, PHYPER_GPUS="0,1")

    engines = [
        subprocess.Popen(engine_command("snakemake", jobs=3), cwd=first, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True),
        subprocess.Popen(engine_command("doit", jobs=3), cwd=second, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True),
    ]
    outputs = [engine.communicate(timeout=300)[0] for engine in engines]

    assert [0, 0] == [engine.returncode for engine in engines], outputs
    jobs = [line for line in lines(first, second) if line.key != "all"]
    text = figures("snakemake -j3 and doit -n 3 at once, two projects, gpus=1 on 2 devices", jobs, 1)
    assert 2 * TRAIN_JOBS == len(jobs)
    assert all(len(job.devices) == 1 for job in jobs), text
    assert 0 == overlap_violations(jobs, 1), text


@pytest.mark.doit
def test_a_batch_holds_its_device_for_all_its_members(project: Path, pool: Path) -> None:
    run(engine_command("doit", jobs=2), project, gpu_environment(pool, PHYPER_GPUS="0,1", PHYPER_BATCH="train=4"))

    jobs = [line for line in lines(project) if line.key != "all"]
    by_process: dict[int, set[tuple[str, ...]]] = {}
    for job in jobs:
        by_process.setdefault(job.pid, set()).add(job.devices)
    assert TRAIN_JOBS == len(jobs)
    # one process per batch job, running exactly that batch's members (batches of at most 4)
    batches = group_into_batches(sorted(job.key for job in jobs), 4)
    assert 2 <= len(batches)
    assert sorted(sorted(members) for members in batches.values()) == sorted(
        sorted(job.key for job in jobs if job.pid == pid) for pid in by_process
    )
    assert all(1 == len(devices) for devices in by_process.values()), by_process
    assert 0 == overlap_violations(jobs, 1)
    holds = {pid: (min(j.started for j in jobs if j.pid == pid), max(j.finished for j in jobs if j.pid == pid))
             for pid in by_process}
    for first_pid, second_pid in itertools.combinations(by_process, 2):
        if by_process[first_pid] == by_process[second_pid]:  # one device each at a time: no overlap
            first, second = holds[first_pid], holds[second_pid]
            assert first[1] <= second[0] or second[1] <= first[0]

    # the report's run-time table says which device each job used
    run([sys.executable, "-m", "phyper", "report", "-o", "report.html"], project, gpu_environment(pool))
    page = (project / "report.html").read_text()
    found = re.search(r'<script type="application/json" id="phyper-data">(.*?)</script>', page, re.S)
    assert found is not None
    data = json.loads(found[1])
    table = data["times"]["jobs"]
    shown = dict(zip(table["hash"], table["devices"]))
    assert {job.key[:SHORT_HASH]: ",".join(job.devices) for job in jobs} | {"all": None} == shown


def wait_for(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_a_killed_job_frees_its_device_and_a_waiting_job_is_listed(
    project: Path, pool: Path, started: list[subprocess.Popen[str]]
) -> None:
    holder_key, waiter_key, doomed_key, *_ = train_keys(project)
    env = gpu_environment(pool, PHYPER_GPUS="0", GPU_TEST_HOLD=holder_key)
    phyper = [sys.executable, "-m", "phyper"]

    holder = start([*phyper, "run", "pipeline:pipeline", "train", holder_key], project, env, started)
    wait_for(lambda: (project / "holding").exists(), "the first job to hold device 0")
    waiter = start([*phyper, "run", "pipeline:pipeline", "train", waiter_key], project, env, started)
    doomed = start([*phyper, "run", "pipeline:pipeline", "train", doomed_key], project, env, started)
    wait_for(lambda: len(list(pool.joinpath("jobs").glob("*.json"))) == 2 if pool.joinpath("jobs").exists() else False,
             "two jobs to wait for a device")
    # a waiter killed while it waits leaves its marker behind, and is not listed
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    assert 2 == len(list(pool.joinpath("jobs").glob("*.json")))
    status = run([*phyper, "status", "-v"], project, env).stdout

    assert "waiting for a device (1):" in status
    assert 1 == len(list(pool.joinpath("jobs").glob("*.json")))  # the dead waiter's marker, removed
    assert "train(seed=" in status.split("waiting for a device (1):")[1]
    assert f"{waiter_key[:8]}: needs 1 GPU, pid {waiter.pid} on {os.uname().nodename}" in status
    assert waiter.poll() is None

    holder.send_signal(signal.SIGKILL)
    holder.wait()
    output = waiter.communicate(timeout=60)[0]

    assert 0 == waiter.returncode, output
    assert "waiting for a device (needs 1 GPU; not free on devices 0, held by other jobs)" in output
    assert [(waiter_key, ("0",))] == [(line.key, line.devices) for line in lines(project)]
    entry = [e for e in job_log(project) if e["key"] == waiter_key][-1]
    assert ("done", ["0"]) == (entry["status"], entry["devices"])
    assert isinstance(entry["device_wait_s"], float) and entry["device_wait_s"] > 0
    # the killed job left no slot behind: running it again gets device 0 at once
    again = run([*phyper, "run", "pipeline:pipeline", "train", holder_key], project,
                {**env, "GPU_TEST_HOLD": ""}).stdout
    assert "waiting" not in again
    entry = [e for e in job_log(project) if e["key"] == holder_key][-1]
    assert ("done", ["0"], False) == (entry["status"], entry["devices"], "device_wait_s" in entry)
    assert "waiting for a device" not in run([*phyper, "status", "-v"], project, env).stdout


def test_a_gpu_step_on_a_machine_without_gpus_is_one_named_error_before_it_runs(project: Path, pool: Path) -> None:
    key = train_keys(project)[0]
    command = [sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "train", key]

    failed = run(command, project, gpu_environment(pool, PHYPER_GPUS="none"), check=False)

    assert 0 != failed.returncode
    assert (
        f"GpuUnavailableError: job train(seed=0 width=1) {key[:8]} needs 1 GPU but this machine has none "
        "(devices found: none, from PHYPER_GPUS=none); name the devices in PHYPER_GPUS (e.g. PHYPER_GPUS=0,1), "
        "or run the step without a GPU for this run with PHYPER_STEP_GPUS='train=0'"
    ) in failed.stderr
    assert not (project / "device_lines.txt").exists()  # the step never ran
    assert not any((project / "derived_data" / ".phyper" / "done").rglob("*.json"))

    # the override: the same pipeline runs on this machine, on the CPU
    run(command, project, gpu_environment(pool, PHYPER_GPUS="none", PHYPER_STEP_GPUS="train=0"))
    assert [(key, ())] == [(line.key, line.devices) for line in lines(project)]


def test_more_devices_than_the_machine_has_is_refused_at_once(project: Path, pool: Path) -> None:
    key = train_keys(project)[0]
    env = gpu_environment(pool, PHYPER_GPUS="0,1", PHYPER_STEP_GPUS="train=3")

    failed = run([sys.executable, "-m", "phyper", "run", "pipeline:pipeline", "train", key], project, env, check=False)

    assert 0 != failed.returncode
    assert "needs 3 GPUs but this machine has too few for it (devices found: 2 (0, 1), from PHYPER_GPUS)" in failed.stderr
    assert not (project / "device_lines.txt").exists()

