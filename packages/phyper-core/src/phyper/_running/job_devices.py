"""A job's devices: held from the pool, and named in ``CUDA_VISIBLE_DEVICES`` while its step runs.

The step runs in the job process: ``CUDA_VISIBLE_DEVICES`` is set before the step, so
before torch first touches CUDA. A batch job holds its devices for the whole batch.
The need comes from the plan (`phyper._planning.settings.gpu_needs`, carried by
`phyper._planning.plan.JobToRun`), the devices from `phyper._running.device_pool`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from phyper._running.device_pool import Allocation, acquire

__all__ = ["Allocation", "job_devices"]


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
