"""Which GPUs this machine lets phyper hand out.

``PHYPER_GPUS`` (``"0,1,2,3"``; ``"none"`` for none), else the ``CUDA_VISIBLE_DEVICES``
the job process was started with (a scheduler such as SLURM sets it: phyper keeps to
those), else the driver's list (``nvidia-smi -L``). Found once per job process, and
only for a step that needs a GPU; no ``nvidia-smi`` when the environment says.
What a step needs is `phyper._planning.settings`'s business, the pool that shares the devices
`phyper._running.device_pool`'s.
"""

from __future__ import annotations

import os
import re
import shutil
from functools import lru_cache

__all__ = ["DEVICES_ENVIRONMENT_VARIABLE", "discover_devices"]

DEVICES_ENVIRONMENT_VARIABLE = "PHYPER_GPUS"
"""The machine's devices for phyper, e.g. ``"0,1,2,3"`` (``"none"``: no GPU); wins over the rest."""


def discover_devices() -> tuple[tuple[str, ...], str]:
    """(the devices phyper may hand out, where that came from); see the module docstring.

    Cached per process on the environment's values: one ``nvidia-smi`` at most per job.
    """
    return _discover(os.environ.get(DEVICES_ENVIRONMENT_VARIABLE), os.environ.get("CUDA_VISIBLE_DEVICES"))


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
