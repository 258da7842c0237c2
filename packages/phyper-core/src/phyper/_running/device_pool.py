"""The machine-wide pool that hands out GPUs, whole or in shares, to job processes.

The pool belongs to the machine, not to a project: its folder is
``/tmp/phyper-devices-<uid>`` (``PHYPER_DEVICE_POOL`` moves it), shared by every engine,
every project and every manual ``phyper run`` of the user on the machine. Under SLURM,
when the devices came from the scheduler's ``CUDA_VISIBLE_DEVICES``, the pool is the
scheduler job's (a subfolder per ``SLURM_JOB_ID``): the numbers are the allocation's own.

Each device is a file of `SLOTS` one-byte slots; a job holds its slots with
`phyper._state.locks.FileLock`s on byte ranges (POSIX record locks), which the kernel drops
when the process exits for any reason: a job killed with SIGKILL frees its device, no
stale slot blocks the next one. A fraction ``f`` takes ``round(f * SLOTS)`` slots of
one device (the one with the most free slots, so jobs spread); ``n`` whole devices
take every slot of ``n`` free devices. Slots are chosen under one pool-wide lock, so
two jobs never split a device between them beyond their shares. A job that finds too
few free slots says so, leaves a marker under ``<pool>/jobs/`` (which ``phyper status
-v`` lists, and which the waiting process keeps locked: a dead waiter's marker is
ignored and removed), and tries again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import dataclass, field

from phyper._errors import GpuUnavailableError
from phyper._planning.settings import SLOTS, STEP_GPUS_ENVIRONMENT_VARIABLE, describe_need
from phyper._running.gpu_devices import DEVICES_ENVIRONMENT_VARIABLE, discover_devices
from phyper._state.locks import FileLock, is_locked, read_lock_file

__all__ = ["POOL_ENVIRONMENT_VARIABLE", "SLOTS", "Allocation", "WaitingJob", "acquire", "pool_folder", "waiting_jobs"]

POOL_ENVIRONMENT_VARIABLE = "PHYPER_DEVICE_POOL"
"""The pool's folder (default ``/tmp/phyper-devices-<uid>``): set it to share one pool between users."""

_POLL_FIRST_S = 0.05
_POLL_MAX_S = 0.5


def pool_folder(source: str | None = None) -> str:
    """The pool's folder: ``PHYPER_DEVICE_POOL``, else ``/tmp/phyper-devices-<uid>``.

    ``source`` is where the devices came from (`phyper._running.gpu_devices.discover_devices`):
    devices a SLURM job was given (its ``CUDA_VISIBLE_DEVICES``) have a pool of their own, per job.
    """
    base = os.environ.get(POOL_ENVIRONMENT_VARIABLE) or os.path.join("/tmp", f"phyper-devices-{os.getuid()}")
    scheduler_job = os.environ.get("SLURM_JOB_ID")
    if source == "CUDA_VISIBLE_DEVICES" and scheduler_job:
        return os.path.join(base, f"slurm-{re.sub(r'[^0-9A-Za-z_.-]', '_', scheduler_job)}")
    return base


@dataclass
class Allocation:
    """Devices a job holds (while its slot locks are held) and how long it waited for them."""

    devices: tuple[str, ...]
    need: float | int
    waited_s: float = 0.0
    _slots: list[FileLock] = field(default_factory=list, repr=False)

    def release(self) -> None:
        """Give the slots back."""
        FileLock.release_all(self._slots)
        self._slots.clear()


def _device_file(folder: str, device: str) -> str:
    return os.path.join(folder, "gpu-" + re.sub(r"[^0-9A-Za-z_.-]", "_", device) + ".slots")


def _try_allocate(folder: str, devices: tuple[str, ...], need: float | int) -> Allocation | None:
    """Under the pool lock: take ``need`` now, or take nothing and return None."""
    free: dict[str, list[FileLock]] = {}
    for device in devices:
        # a slot is free when it can be locked; it is then held until released
        free[device] = FileLock.take_free_bytes(_device_file(folder, device), SLOTS)
    if need < 1:
        wanted = round(need * SLOTS)
        fitting = [device for device in devices if len(free[device]) >= wanted]
        chosen = [max(fitting, key=lambda device: len(free[device]))] if fitting else []
        keep = {device: free[device][:wanted] for device in chosen}
    else:
        whole = [device for device in devices if len(free[device]) == SLOTS]
        chosen = whole[: int(need)] if len(whole) >= need else []
        keep = {device: free[device] for device in chosen}
    kept = [slot for device in chosen for slot in keep[device]]
    FileLock.release_all([slot for device in devices for slot in free[device][len(keep.get(device, ())):]])
    if not chosen:
        return None
    return Allocation(tuple(chosen), need, _slots=kept)


def _no_devices_error(
    label: str, step: str, need: float | int, devices: tuple[str, ...], source: str
) -> GpuUnavailableError:
    found = f"{len(devices)} ({', '.join(devices)})" if devices else "none"
    return GpuUnavailableError(
        f"job {label} needs {describe_need(need)} but this machine has {'too few for it' if devices else 'none'} "
        f"(devices found: {found}, from {source}); name the devices in {DEVICES_ENVIRONMENT_VARIABLE} "
        f"(e.g. {DEVICES_ENVIRONMENT_VARIABLE}=0,1), or run the step without a GPU for this run with "
        f"{STEP_GPUS_ENVIRONMENT_VARIABLE}='{step}=0'"
    )


class _Marker:
    """A job's file in ``<pool>/jobs/``: who waits for what, kept locked while the job lives."""

    def __init__(self, folder: str, entry: dict[str, object]) -> None:
        jobs = os.path.join(folder, "jobs")
        os.makedirs(jobs, exist_ok=True)
        name = f"{os.uname().nodename}-{os.getpid()}.json"
        self.path = os.path.join(jobs, name)
        temporary = os.path.join(jobs, f".{name}.tmp")
        # locked before it is visible under its name (a lock belongs to the file, not the name):
        # a reader that can lock a marker knows its process is gone
        self.lock = FileLock(temporary)
        self.lock.acquire(blocking=True)
        self.lock.write(json.dumps(entry, sort_keys=True).encode("utf-8"))
        os.replace(temporary, self.path)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            os.remove(self.path)
        self.lock.release()


def acquire(need: float | int, *, label: str, state_folder: str, step: str, key: str) -> Allocation:
    """Wait until ``need`` is free in the pool, then hold it (see `Allocation`).

    Raises:
        GpuUnavailableError: the machine has no device, or fewer than ``need``.
    """
    devices, source = discover_devices()
    if not devices or (need >= 1 and len(devices) < need):
        raise _no_devices_error(label, step, need, devices, source)
    folder = pool_folder(source)
    os.makedirs(folder, exist_ok=True)
    started = time.monotonic()
    marker: _Marker | None = None
    delay = _POLL_FIRST_S
    try:
        while True:
            with FileLock(os.path.join(folder, "pool.lock")):
                allocation = _try_allocate(folder, devices, need)
            if allocation is not None:
                allocation.waited_s = round(time.monotonic() - started, 3) if marker is not None else 0.0
                return allocation
            if marker is None:
                print(
                    f"phyper: {label}: waiting for a device (needs {describe_need(need)}; not free on devices "
                    f"{', '.join(devices)}, held by other jobs)",
                    flush=True,
                )
                marker = _Marker(folder, {
                    "state": "waiting", "pid": os.getpid(), "host": os.uname().nodename, "since": time.time(),
                    "state_folder": os.path.abspath(state_folder), "step": step, "key": key, "label": label,
                    "gpus": need,
                })
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)
    finally:
        if marker is not None:
            marker.remove()


# -- who waits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitingJob:
    """A job process waiting for a device (from its marker in the pool)."""

    label: str
    step: str
    key: str
    pid: int
    host: str
    since: float
    gpus: float


def waiting_jobs(state_folder: str) -> list[WaitingJob]:
    """The live jobs of the project at ``state_folder`` waiting for a device, oldest first.

    A marker whose process died (nobody holds its lock) is left out and removed.
    """
    wanted = os.path.abspath(state_folder)
    found: list[WaitingJob] = []
    base = pool_folder()
    folders = {base}
    if os.path.isdir(base):
        folders.update(os.path.join(base, name) for name in os.listdir(base) if name.startswith("slurm-"))
    for folder in folders:
        jobs = os.path.join(folder, "jobs")
        try:
            names = os.listdir(jobs)
        except OSError:
            continue
        for name in names:
            if name.startswith("."):
                continue  # a marker being written
            entry = _live_marker(os.path.join(jobs, name))
            if entry is None or entry.get("state_folder") != wanted or entry.get("state") != "waiting":
                continue
            job = _waiting_job(entry)
            if job is not None:
                found.append(job)
    return sorted(found, key=lambda job: job.since)


def _waiting_job(entry: dict[str, object]) -> WaitingJob | None:
    texts = [entry.get(name) for name in ("label", "step", "key", "host")]
    pid, since, gpus = entry.get("pid"), entry.get("since"), entry.get("gpus")
    if not all(isinstance(text, str) for text in texts) or not isinstance(pid, int):
        return None
    if not isinstance(since, (int, float)) or not isinstance(gpus, (int, float)):
        return None
    label, step, key, host = (str(text) for text in texts)
    return WaitingJob(label, step, key, pid, host, float(since), float(gpus))


def _live_marker(path: str) -> dict[str, object] | None:
    if not is_locked(path):
        # nobody holds it: its process died (a live waiter keeps it locked)
        with contextlib.suppress(OSError):
            os.remove(path)
        return None
    content = read_lock_file(path)
    try:
        entry = json.loads(content) if content else None
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
