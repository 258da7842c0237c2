"""GPUs: what a step needs, which devices a machine has, and the pool that hands them out.

A step declares ``gpus=`` (a whole number of devices, or a fraction below one to share a
device: ``0.25`` packs four jobs on it); ``PHYPER_STEP_GPUS`` changes that for one run
(``"train_model=1"``, ``0`` for none), so one pipeline runs on a laptop and on a GPU box.

**Which devices.** ``PHYPER_GPUS`` (``"0,1,2,3"``; ``"none"`` for none), else the
``CUDA_VISIBLE_DEVICES`` the job process was started with (a scheduler such as SLURM sets
it: phyper keeps to those), else the driver's list (``nvidia-smi -L``). Found once per job
process, and only for a step that needs a GPU; no ``nvidia-smi`` when the environment says.

**The pool** belongs to the machine, not to a project: its folder is
``/tmp/phyper-devices-<uid>`` (``PHYPER_DEVICE_POOL`` moves it), shared by every engine,
every project and every manual ``phyper run`` of the user on the machine. Under SLURM,
when the devices came from the scheduler's ``CUDA_VISIBLE_DEVICES``, the pool is the
scheduler job's (a subfolder per ``SLURM_JOB_ID``): the numbers are the allocation's own.

Each device is a file of `SLOTS` one-byte slots; a job holds its slots with POSIX
record locks (``fcntl.lockf`` on byte ranges), which the kernel drops when the process
exits for any reason: a job killed with SIGKILL frees its device, no stale slot blocks
the next one. A fraction ``f`` takes ``round(f * SLOTS)`` slots of one device (the one
with the most free slots, so jobs spread); ``n`` whole devices take every slot of ``n``
free devices. Slots are chosen under one pool-wide lock, so two jobs never split a
device between them beyond their shares. A job that finds too few free slots says so,
leaves a marker under ``<pool>/jobs/`` (which ``phyper status -v`` lists, and which the
waiting process keeps locked: a dead waiter's marker is ignored), and tries again.

The job process then runs its step with ``CUDA_VISIBLE_DEVICES`` naming only its devices
(the step runs in that process: set before the step, so before torch first touches CUDA).
A batch job holds its devices for the whole batch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from phyper._errors import GpuOverrideError, GpuUnavailableError, PipelineDefinitionError, did_you_mean

__all__ = [
    "DEVICES_ENVIRONMENT_VARIABLE",
    "POOL_ENVIRONMENT_VARIABLE",
    "SLOTS",
    "STEP_GPUS_ENVIRONMENT_VARIABLE",
    "Allocation",
    "WaitingJob",
    "acquire",
    "check_gpus",
    "discover_devices",
    "gpu_needs",
    "job_devices",
    "parse_gpu_overrides",
    "pool_folder",
    "waiting_jobs",
    "waiting_lines",
]

DEVICES_ENVIRONMENT_VARIABLE = "PHYPER_GPUS"
"""The machine's devices for phyper, e.g. ``"0,1,2,3"`` (``"none"``: no GPU); wins over the rest."""
STEP_GPUS_ENVIRONMENT_VARIABLE = "PHYPER_STEP_GPUS"
"""Run-time GPU needs per step, e.g. ``"train_model=0.25,retrain=1"`` (0: no GPU)."""
POOL_ENVIRONMENT_VARIABLE = "PHYPER_DEVICE_POOL"
"""The pool's folder (default ``/tmp/phyper-devices-<uid>``): set it to share one pool between users."""

SLOTS = 100
"""Slots per device: shares are counted in hundredths of a device."""

_POLL_FIRST_S = 0.05
_POLL_MAX_S = 0.5


# -- what a step needs ------------------------------------------------------------------


def check_gpus(value: object, culprit: str) -> float | int | None:
    """``value`` as a GPU need: None for none, an int of devices, or a fraction of one.

    Args:
        value: what was declared (``gpus=``) or given in ``PHYPER_STEP_GPUS``.
        culprit: who declared it, for the message (``"step `train`: gpus"``).

    Raises:
        PipelineDefinitionError: a negative number, not a number, a fraction too small
            to be a share (below 1/100), or more than one device but not a whole number.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PipelineDefinitionError(
            f"{culprit}={value!r} must be a number of GPUs: a whole number (gpus=1, gpus=2), a share "
            "of one device (gpus=0.25 packs four jobs on it), or 0 for none"
        )
    if value == 0:
        return None
    if value < 1:
        if round(value * SLOTS) < 1:
            raise PipelineDefinitionError(
                f"{culprit}={value!r} is less than the smallest share of a device (1/{SLOTS} = "
                f"{1 / SLOTS}); use gpus=0 for no GPU"
            )
        return float(value)
    if value != int(value):
        raise PipelineDefinitionError(
            f"{culprit}={value!r}: more than one device must be a whole number of devices "
            f"(gpus={int(value)} or gpus={int(value) + 1}); only a share of a single device may be a fraction"
        )
    return int(value)


class _DeclaredStep(Protocol):
    """What `gpu_needs` reads of a step (a `phyper.Step`)."""

    @property
    def gpus(self) -> float | int | None: ...


def parse_gpu_overrides(text: str, steps: Mapping[str, object]) -> dict[str, float | int | None]:
    """Parse ``"step=N,step=N"`` (commas or spaces) of ``PHYPER_STEP_GPUS``; None: no GPU.

    Raises:
        GpuOverrideError: malformed text, an unknown step, or a need `check_gpus` refuses.
    """
    needs: dict[str, float | int | None] = {}
    for assignment in (part for part in re.split(r"[,\s]+", text.strip()) if part):
        name, equals, raw = assignment.partition("=")
        try:
            value = float(raw) if equals else None
        except ValueError:
            value = None
        if value is None:
            raise GpuOverrideError(
                f"{STEP_GPUS_ENVIRONMENT_VARIABLE}: `{assignment}` is not step=N with N a number of GPUs "
                f"(example: {STEP_GPUS_ENVIRONMENT_VARIABLE}='train_model=1' or 'train_model=0.25'; 0 for none)"
            )
        if name not in steps:
            raise GpuOverrideError(
                f"{STEP_GPUS_ENVIRONMENT_VARIABLE}: the pipeline has no step `{name}`{did_you_mean(name, steps)} "
                f"(steps: {', '.join(steps)})"
            )
        try:
            needs[name] = check_gpus(value, f"{STEP_GPUS_ENVIRONMENT_VARIABLE}: step `{name}`: gpus")
        except PipelineDefinitionError as error:
            raise GpuOverrideError(str(error)) from None
    return needs


def gpu_needs(steps: Mapping[str, _DeclaredStep]) -> dict[str, float | int]:
    """Step -> GPUs one of its jobs needs, for the steps that need any: ``gpus=``, then ``PHYPER_STEP_GPUS``.

    Raises:
        GpuOverrideError: ``PHYPER_STEP_GPUS`` is malformed or names no step of the pipeline.
    """
    needs: dict[str, float | int | None] = {name: step.gpus for name, step in steps.items() if step.gpus}
    text = os.environ.get(STEP_GPUS_ENVIRONMENT_VARIABLE, "")
    if text.strip():
        needs.update(parse_gpu_overrides(text, steps))
    return {name: need for name, need in needs.items() if need}


# -- which devices the machine has -------------------------------------------------------


def discover_devices() -> tuple[tuple[str, ...], str]:
    """(the devices phyper may hand out, where that came from); see the module docstring.

    Cached per process on the environment's values: one ``nvidia-smi`` at most per job.
    """
    return _discover(
        os.environ.get(DEVICES_ENVIRONMENT_VARIABLE), os.environ.get("CUDA_VISIBLE_DEVICES")
    )


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(token for token in (part.strip() for part in text.split(",")) if token)


@lru_cache(maxsize=8)
def _discover(phyper_gpus: str | None, visible: str | None) -> tuple[tuple[str, ...], str]:
    if phyper_gpus is not None and phyper_gpus.strip():
        if phyper_gpus.strip().lower() == "none":
            return (), f"{DEVICES_ENVIRONMENT_VARIABLE}=none"
        return _tokens(phyper_gpus), DEVICES_ENVIRONMENT_VARIABLE
    if visible is not None:
        # set but empty, or -1: the engine (or the scheduler) gave this job no device
        devices = () if visible.strip() in ("", "-1") else _tokens(visible)
        return devices, "CUDA_VISIBLE_DEVICES"
    import subprocess  # only without PHYPER_GPUS and CUDA_VISIBLE_DEVICES, for a step that needs a GPU

    executable = shutil.which("nvidia-smi")
    if executable is None:
        return (), "nvidia-smi (not installed)"
    try:
        listed = subprocess.run([executable, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return (), "nvidia-smi -L (failed)"
    devices = tuple(match.group(1) for match in re.finditer(r"^GPU (\d+):", listed.stdout, re.MULTILINE))
    return devices, "nvidia-smi -L"


def pool_folder(source: str | None = None) -> str:
    """The pool's folder: ``PHYPER_DEVICE_POOL``, else ``/tmp/phyper-devices-<uid>``.

    ``source`` is where the devices came from (`discover_devices`): devices a SLURM
    job was given (its ``CUDA_VISIBLE_DEVICES``) have a pool of their own, per job.
    """
    base = os.environ.get(POOL_ENVIRONMENT_VARIABLE) or os.path.join("/tmp", f"phyper-devices-{os.getuid()}")
    scheduler_job = os.environ.get("SLURM_JOB_ID")
    if source == "CUDA_VISIBLE_DEVICES" and scheduler_job:
        return os.path.join(base, f"slurm-{re.sub(r'[^0-9A-Za-z_.-]', '_', scheduler_job)}")
    return base


# -- the pool ---------------------------------------------------------------------------


@dataclass
class Allocation:
    """Devices a job holds (while its descriptors are open) and how long it waited for them."""

    devices: tuple[str, ...]
    need: float | int
    waited_s: float = 0.0
    _descriptors: list[int] = field(default_factory=list, repr=False)

    def release(self) -> None:
        """Give the slots back (closing a descriptor drops this process's locks on the file)."""
        for descriptor in self._descriptors:
            with contextlib.suppress(OSError):
                os.close(descriptor)
        self._descriptors.clear()


def _device_file(folder: str, device: str) -> str:
    return os.path.join(folder, "gpu-" + re.sub(r"[^0-9A-Za-z_.-]", "_", device) + ".slots")


def _try_lock(descriptor: int, start: int, length: int = 1) -> bool:
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True


def _try_allocate(folder: str, devices: tuple[str, ...], need: float | int) -> Allocation | None:
    """Under the pool lock: take ``need`` now, or take nothing and return None."""
    descriptors = {device: os.open(_device_file(folder, device), os.O_RDWR | os.O_CREAT, 0o644) for device in devices}
    free: dict[str, list[int]] = {}
    for device, descriptor in descriptors.items():
        # a slot is free when this process can lock its byte; it then holds it until unlocked
        free[device] = [slot for slot in range(SLOTS) if _try_lock(descriptor, slot)]
    if need < 1:
        wanted = round(need * SLOTS)
        fitting = [device for device in devices if len(free[device]) >= wanted]
        chosen = [max(fitting, key=lambda device: len(free[device]))] if fitting else []
        keep = {device: free[device][:wanted] for device in chosen}
    else:
        whole = [device for device in devices if len(free[device]) == SLOTS]
        chosen = whole[: int(need)] if len(whole) >= need else []
        keep = {device: free[device] for device in chosen}
    for device, descriptor in descriptors.items():
        if device in keep:
            for slot in sorted(set(free[device]) - set(keep[device])):
                fcntl.lockf(descriptor, fcntl.LOCK_UN, 1, slot)
        else:
            os.close(descriptor)  # drops every lock this process took on that file
    if not chosen:
        return None
    return Allocation(tuple(chosen), need, _descriptors=[descriptors[device] for device in chosen])


@contextlib.contextmanager
def _pool_lock(folder: str) -> Iterator[None]:
    descriptor = os.open(os.path.join(folder, "pool.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _describe(need: float | int) -> str:
    return f"{need} of a GPU" if need < 1 else f"{need} GPU{'s' if need > 1 else ''}"


def _no_devices_error(
    label: str, step: str, need: float | int, devices: tuple[str, ...], source: str
) -> GpuUnavailableError:
    found = f"{len(devices)} ({', '.join(devices)})" if devices else "none"
    return GpuUnavailableError(
        f"job {label} needs {_describe(need)} but this machine has {'too few for it' if devices else 'none'} "
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
        self.descriptor = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        # locked before it is visible under its name (a lock belongs to the file, not the name):
        # a reader that can lock a marker knows its process is gone
        fcntl.lockf(self.descriptor, fcntl.LOCK_EX)
        os.write(self.descriptor, json.dumps(entry, sort_keys=True).encode("utf-8"))
        os.replace(temporary, self.path)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            os.remove(self.path)
        with contextlib.suppress(OSError):
            os.close(self.descriptor)


def acquire(
    need: float | int, *, label: str, state_folder: str, step: str, key: str
) -> Allocation:
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
            with _pool_lock(folder):
                allocation = _try_allocate(folder, devices, need)
            if allocation is not None:
                allocation.waited_s = round(time.monotonic() - started, 3) if marker is not None else 0.0
                return allocation
            if marker is None:
                print(
                    f"phyper: {label}: waiting for a device (needs {_describe(need)}; not free on devices {', '.join(devices)}, "
                    "held by other jobs)",
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


@contextlib.contextmanager
def job_devices(
    need: float | int | None, *, label: str, state_folder: str, step: str, key: str, held: Allocation | None = None
) -> Iterator[Allocation | None]:
    """Hold devices for one job (or a whole batch), with ``CUDA_VISIBLE_DEVICES`` set to them.

    Nothing happens when ``need`` is None (the step needs no GPU). ``held`` is what the
    caller already holds (a batch, for its members): it is reused, nothing more is taken.

    Raises:
        GpuUnavailableError: the machine has fewer devices than ``need`` (before the step runs).
    """
    if not need or held is not None:
        yield held if need else None
        return
    allocation = acquire(need, label=label, state_folder=state_folder, step=step, key=key)
    if allocation.waited_s:
        print(f"phyper: {label}: got device {','.join(allocation.devices)} after {allocation.waited_s:.1f} s", flush=True)
    _warn_if_cuda_started()
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(allocation.devices)
    try:
        yield allocation
    finally:
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
        allocation.release()


def _warn_if_cuda_started() -> None:
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        started = bool(cuda is not None and cuda.is_initialized())
    except Exception:  # a partial torch must not fail the job
        started = False
    if started:
        print(
            "phyper: warning: CUDA was initialised before the job got its devices (a module touched "
            "torch.cuda when it was imported): this process may use other devices than the ones it was given",
            file=sys.stderr,
            flush=True,
        )


# -- what phyper status shows ------------------------------------------------------------


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
    folders = {pool_folder()}
    if os.path.isdir(pool_folder()):
        folders.update(
            os.path.join(pool_folder(), name) for name in os.listdir(pool_folder()) if name.startswith("slurm-")
        )
    for folder in folders:
        jobs = os.path.join(folder, "jobs")
        try:
            names = os.listdir(jobs)
        except OSError:
            continue
        for name in names:
            if name.startswith("."):
                continue  # a marker being written
            path = os.path.join(jobs, name)
            entry = _live_marker(path)
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
    try:
        descriptor = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        if _try_lock(descriptor, 0, 0):
            # nobody holds it: its process died (a live waiter keeps it locked)
            with contextlib.suppress(OSError):
                os.remove(path)
            return None
        try:
            entry = json.loads(os.pread(descriptor, 65536, 0))
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) else None
    finally:
        os.close(descriptor)


def waiting_lines(state_folder: str) -> list[str]:
    """What ``phyper status -v`` adds: the project's jobs waiting for a device now (none: no line)."""
    jobs = waiting_jobs(state_folder)
    if not jobs:
        return []
    return [f"waiting for a device ({len(jobs)}):"] + [
        f"  {job.label}: needs {_describe(job.gpus if job.gpus < 1 else int(job.gpus))}, pid {job.pid} on {job.host}, "
        f"since {time.strftime('%H:%M:%S', time.localtime(job.since))}"
        for job in jobs
    ]
