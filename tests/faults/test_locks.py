"""Every lock phyper takes, through its one lock module (`phyper._state.locks`), under faults.

Each use in the code (the per-job lock, the device pool's slots and markers, the
search driver's locks, the Snakemake backend's engine lock) is taken by a real
process through the code that takes it, then: the process is killed with SIGKILL and
the lock is free; two processes contend and only one holds it; two threads of one
process (the search driver's case) exclude each other too, and nothing one of them
does (reading the file, failing to lock it, releasing another range) drops the other's
lock, which another process checks. No timers: a child says what it did on its output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engines import environment
from phyper._running.device_pool import Allocation, acquire, waiting_jobs
from phyper._state import locks as _locks
from phyper._state.locks import FileLock, hold_lock, is_locked, read_lock_file
from phyper_snakemake._workflow import ENGINE_LOCK_NAME, SNAKEMAKE_FOLDER

pytestmark = pytest.mark.faults

# what a child runs to take each kind of lock the way the code takes it; it prints
# "held" once it holds it, then obeys lines on its input: "release", "acquire"
HOLD = {
    "job": "from phyper._state.locks import hold_lock\n"
           "held = hold_lock(PATH, 'train:abc'); held.__enter__()\n"
           "release = lambda: held.__exit__(None, None, None)\n"
           "def again():\n"
           "    global held\n"
           "    held = hold_lock(PATH, 'train:abc'); held.__enter__()\n",
    "search": "from phyper._search.driver import FileLock\n"
              "lock = FileLock(PATH); lock.acquire(blocking=True)\n"
              "release = lock.release\n"
              "def again():\n"
              "    print('got' if lock.acquire(blocking=False) else 'busy', flush=True)\n",
    "pool": "import os\n"
            "from phyper._running.device_pool import acquire\n"
            "held = acquire(1, label='train:abc', state_folder=os.getcwd(), step='train', key='abc')\n"
            "release = held.release\n"
            "def again():\n"
            "    global held\n"
            "    held = acquire(1, label='train:abc', state_folder=os.getcwd(), step='train', key='abc')\n",
    "engine": "import types\n"
              "from phyper_snakemake._workflow import SnakemakeWorkflow\n"
              "workflow = types.SimpleNamespace(_engine_lock=None)\n"
              "assert SnakemakeWorkflow._take_engine_lock(workflow)\n"
              "release = workflow._engine_lock.release\n"
              "def again():\n"
              "    print('got' if workflow._engine_lock.acquire(blocking=False) else 'busy', flush=True)\n",
}
LOOP = (
    "print('held', flush=True)\n"
    "for line in sys.stdin:\n"
    "    if line.strip() == 'release':\n"
    "        release(); print('released', flush=True)\n"
    "    elif line.strip() == 'acquire':\n"
    "        again(); print('acquired', flush=True)\n"
)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:  # nothing a test started outlives it
        if child.poll() is None:
            child.kill()
        child.wait()


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder for the locks, current (the engine lock lives under ./.snakemake), with one fake GPU."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PHYPER_GPUS", "0")
    monkeypatch.setenv("PHYPER_DEVICE_POOL", str(tmp_path / "pool"))
    return tmp_path


def lock_path(use: str, place: Path) -> str:
    """The file each use locks (the pool: device 0's slots, whose first byte is its first share)."""
    return {
        "job": str(place / "state" / "locks" / "train" / "abc.lock"),
        "search": str(place / "state" / "search" / "s" / "trials" / "abc.lock"),
        "pool": str(place / "pool" / "gpu-0.slots"),
        "engine": str(place / SNAKEMAKE_FOLDER / ENGINE_LOCK_NAME),
    }[use]


def hold(use: str, place: Path, children: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """A child process holding ``use``'s lock (it said so)."""
    code = f"import sys\nPATH = {lock_path(use, place)!r}\n{HOLD[use]}{LOOP}"
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=place, env=environment(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    children.append(child)
    assert "held\n" == child.stdout.readline(), child.stderr.read()  # type: ignore[union-attr]
    return child


def tell(child: subprocess.Popen[str], line: str) -> list[str]:
    """Send ``line``; what the child printed until it confirmed (``released`` / ``acquired``)."""
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(line + "\n")
    child.stdin.flush()
    said = [child.stdout.readline().strip()]
    while said[-1] not in ("released", "acquired", ""):
        said.append(child.stdout.readline().strip())
    return said


def free_here(use: str, place: Path) -> bool:
    """Whether this process can take ``use``'s lock now (taken and given back at once)."""
    if use == "pool":
        lock = FileLock(lock_path(use, place), start=0, length=1)
    else:
        lock = FileLock(lock_path(use, place))
    if not lock.acquire(blocking=False):
        return False
    lock.release()
    return True


USES = sorted(HOLD)


@pytest.mark.parametrize("use", USES)
def test_a_lock_held_by_a_process_killed_with_sigkill_is_free(
    use: str, place: Path, children: list[subprocess.Popen[str]]
) -> None:
    child = hold(use, place, children)
    before = (free_here(use, place), is_locked(lock_path(use, place)))

    child.send_signal(signal.SIGKILL)
    child.wait()

    assert ((False, True), (True, False)) == (before, (free_here(use, place), is_locked(lock_path(use, place))))


@pytest.mark.parametrize("use", USES)
def test_two_processes_contend_and_one_holds_the_lock_at_a_time(
    use: str, place: Path, children: list[subprocess.Popen[str]]
) -> None:
    child = hold(use, place, children)
    while_child_holds = free_here(use, place)
    released = tell(child, "release")
    mine = FileLock(lock_path(use, place), **({"start": 0, "length": 1} if use == "pool" else {}))
    taken_here = mine.acquire(blocking=False)
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    if use in ("search", "engine"):  # the child tries once, without waiting, while this process holds it
        said = tell(child, "acquire")
        mine.release()
    else:  # the job lock and the pool wait: the child says it waits, and gets it once this process lets go
        child.stdin.write("acquire\n")
        child.stdin.flush()
        waits = (child.stderr if use == "job" else child.stdout).readline()
        mine.release()
        said = [child.stdout.readline().strip()]
        said = ["busy" if "is being run by another process" in waits or "waiting for a device" in waits else waits,
                *said]

    assert (False, ["released"], True) == (while_child_holds, released, taken_here)
    assert ["busy", "acquired"] == said


def test_a_blocking_wait_ends_when_the_other_process_releases(place: Path, children: list[subprocess.Popen[str]]) -> None:
    child = hold("job", place, children)
    events: list[str] = []

    def wait_for_it() -> None:
        with hold_lock(lock_path("job", place), "train:abc") as held:
            events.append(f"got it, waited={held.waited}, holder={'pid' in (held.holder or '')}")

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    while not any(entry.held for entry in _table_entries()):
        waiter.join(0.01)  # until the waiter has tried (the child holds it: it cannot have got it)
    events.append("child releases")
    tell(child, "release")
    waiter.join()

    assert ["child releases", "got it, waited=True, holder=True"] == events


def _table_entries() -> list[_locks._OpenFile]:
    """This process's open lock files (`phyper._state.locks`' table)."""
    return list(_locks._files.values())


@pytest.mark.parametrize("use", ["search", "job"])
def test_two_threads_of_one_process_exclude_each_other(use: str, place: Path) -> None:
    path = lock_path(use, place)
    first = FileLock(path)
    first.acquire(blocking=True)
    other_thread_at_once: list[bool] = []
    order: list[str] = []

    def second() -> None:
        lock = FileLock(path)
        other_thread_at_once.append(lock.acquire(blocking=False))
        lock.acquire(blocking=True)
        order.append("second holds it")
        lock.release()

    thread = threading.Thread(target=second)
    thread.start()
    while not other_thread_at_once or not any(entry.held and entry.users > 1 for entry in _table_entries()):
        thread.join(0.01)  # until the second thread waits for it
    order.append("first releases")
    first.release()
    thread.join()

    assert ([False], ["first releases", "second holds it"]) == (other_thread_at_once, order)


def locked_for_another_process(path: str, start: int = 0, length: int = 0) -> bool:
    code = (
        "import sys\nfrom phyper._state.locks import FileLock\n"
        f"lock = FileLock({path!r}, start={start}, length={length})\n"
        "print('free' if lock.acquire(blocking=False) else 'locked')\n"
    )
    checked = subprocess.run([sys.executable, "-c", code], env=environment(), capture_output=True, text=True, check=True)
    return checked.stdout.strip() == "locked"


def test_nothing_else_this_process_does_with_a_lock_file_drops_its_lock(place: Path) -> None:
    # POSIX locks belong to the process: closing any descriptor of the file would drop them all
    path = str(place / "pool" / "gpu-0.slots")
    slot_0, slot_1 = FileLock(path, start=0, length=1), FileLock(path, start=1, length=1)
    slot_0.acquire(blocking=True)
    slot_1.acquire(blocking=True)
    slot_1.release()  # another range of the same file let go
    read_lock_file(path)  # its content read
    is_locked(path)  # probed
    assert not FileLock(path, start=0, length=1).acquire(blocking=False)  # a failed try in this process
    job = str(place / "state" / "locks" / "train" / "abc.lock")
    with hold_lock(job, "train:abc"):
        json.loads(read_lock_file(job) or b"")
        FileLock(job).read()

        held = (locked_for_another_process(path, 0, 1), locked_for_another_process(path, 1, 1),
                locked_for_another_process(job))
    slot_0.release()

    assert (True, False, True) == held
    assert (False, False) == (locked_for_another_process(path, 0, 1), locked_for_another_process(job))
    assert [] == _table_entries()  # every descriptor closed once nothing uses it


def test_a_waiting_jobs_marker_is_listed_while_it_waits_and_dropped_once_it_is_killed(
    place: Path, children: list[subprocess.Popen[str]]
) -> None:
    holder: Allocation = acquire(1, label="train:first", state_folder=str(place), step="train", key="first")
    code = (
        "import os\nfrom phyper._running.device_pool import acquire\n"
        "acquire(1, label='train:second', state_folder=os.getcwd(), step='train', key='second')\n"
    )
    waiter = subprocess.Popen([sys.executable, "-c", code], cwd=place, env=environment(), stdout=subprocess.PIPE,
                              text=True)
    children.append(waiter)
    assert waiter.stdout is not None and "waiting for a device" in waiter.stdout.readline()
    while not waiting_jobs(str(place)):
        waiter.poll()  # its marker is written just after it says it waits
        assert waiter.returncode is None
    listed = [(job.label, job.pid) for job in waiting_jobs(str(place))]

    waiter.send_signal(signal.SIGKILL)
    waiter.wait()
    after = waiting_jobs(str(place))
    holder.release()

    assert ([("train:second", waiter.pid)], []) == (listed, after)
    assert [] == os.listdir(place / "pool" / "jobs")  # the dead waiter's marker removed


def test_a_wait_the_kernel_takes_for_a_deadlock_between_threads_ends_when_the_thread_lets_go(
    place: Path, children: list[subprocess.Popen[str]]
) -> None:
    # the kernel counts processes: this process's first thread holds byte 0 while its second waits
    # for byte 1, which the child holds; the child then waits for byte 0 and the kernel calls that a
    # deadlock (EDEADLK), though the first thread lets go. The child must wait on, not fail.
    path = str(place / "pool" / "gpu-0.slots")
    first = FileLock(path, start=0, length=1)
    first.acquire(blocking=True)
    code = (
        "import sys\nfrom phyper._state.locks import FileLock\n"
        f"mine = FileLock({path!r}, start=1, length=1); mine.acquire(blocking=True)\n"
        "print('held', flush=True)\n"
        "sys.stdin.readline()\n"
        "print('asking', flush=True)\n"
        f"theirs = FileLock({path!r}, start=0, length=1); theirs.acquire(blocking=True)\n"
        "mine.release()\n"
        "print('acquired', flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=environment(), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(child)
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    assert "held\n" == child.stdout.readline()
    second = FileLock(path, start=1, length=1)
    waiter = threading.Thread(target=second.acquire)
    waiter.start()
    while not any((1, 2) in entry.held for entry in _table_entries()):
        waiter.join(0.01)  # until the second thread waits for byte 1
    waiter.join(0.2)  # and is inside the kernel's wait
    child.stdin.write("go\n")
    child.stdin.flush()
    assert "asking\n" == child.stdout.readline()
    waiter.join(0.2)  # the child is inside its own wait now, which the kernel takes for a deadlock
    first.release()
    said = child.stdout.readline()
    waiter.join()
    second.release()

    assert ("acquired\n", "") == (said, child.stderr.read())


def test_the_pools_pass_over_a_devices_slots_takes_exactly_the_bytes_nobody_holds(
    place: Path, children: list[subprocess.Popen[str]]
) -> None:
    path = str(place / "pool" / "gpu-0.slots")
    code = (
        "import sys\nfrom phyper._state.locks import FileLock\n"
        f"FileLock({path!r}, start=3, length=1).acquire(blocking=True)\n"
        "print('held', flush=True)\nsys.stdin.readline()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=environment(), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    children.append(child)
    assert child.stdout is not None and "held\n" == child.stdout.readline()
    mine = FileLock(path, start=5, length=1)
    mine.acquire(blocking=True)

    taken = FileLock.take_free_bytes(path, 8)
    bytes_taken = [lock.start for lock in taken]
    held_for_others = [locked_for_another_process(path, byte, 1) for byte in (0, 4, 7)]
    FileLock.release_all(taken)
    mine.release()

    assert ([0, 1, 2, 4, 6, 7], [True, True, True]) == (bytes_taken, held_for_others)
    assert (False, []) == (locked_for_another_process(path, 0, 1), _table_entries())
