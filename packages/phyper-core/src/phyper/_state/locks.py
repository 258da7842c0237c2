"""Per-job locks: a job never runs twice at once, whoever starts it.

The runner holds an exclusive POSIX record lock (``fcntl.lockf``, i.e. ``F_SETLK``)
on the job's lock file (its path is `phyper._state.store`'s business) while a job runs. What this relies on:

* on one machine, the kernel releases the lock when the holding process exits for
  any reason (SIGKILL, OOM, crash), so a lock of a dead process never blocks;
* on a shared filesystem, NFSv4 (and NFSv3 with ``lockd``) implements POSIX record
  locks across hosts: a client that dies loses its locks when its lease expires
  (90 s by default on NFSv4) or when ``statd`` reports its reboot. A filesystem
  mounted with ``nolock``, or one without lock support, gives no cross-host
  exclusion: the lock then only protects jobs started on the same host.

The lock file also holds who took it (host, pid, time), for the message of a job
that has to wait. The file itself is never deleted: deleting it while another
process waits on it would let a third process lock a new file of the same name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from phyper._errors import JobFailedError, describe_os_error
from phyper._state.formats import LOCK, parse_json

__all__ = ["JobLock", "hold_lock"]


@dataclass
class JobLock:
    """A held job lock; ``waited`` says whether another process held it first."""

    path: str
    waited: bool
    holder: str | None


def _holder(path: str, descriptor: int) -> str | None:
    """Who holds the lock, from the file's content (see `phyper._state.formats.LOCK`); None if unknown.

    The content is only for this message: garbage in it changes nothing.
    """
    try:
        info = LOCK.validate(parse_json(os.pread(descriptor, 4096, 0), path), path)
        return f"pid {info['pid']} on {info['host']}, since {time.strftime('%H:%M:%S', time.localtime(info['since']))}"
    except (OSError, ValueError, OverflowError):
        return None


def _open_lock_file(path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except IsADirectoryError:
        # an (empty) folder in the lock file's place holds no lock: replace it by a file;
        # one with files in it is left to a person (the error names it)
        with contextlib.suppress(OSError):
            os.rmdir(path)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def hold_lock(path: str, label: str) -> Iterator[JobLock]:
    """Hold the lock file ``path`` of job ``label`` for the duration of the ``with`` block.

    If another process holds it, print who (to stderr) and wait until it is released.

    Raises:
        JobFailedError: the lock cannot be taken (a read-only state folder, say).
    """
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor = _open_lock_file(path)
    except OSError as error:
        raise JobFailedError(f"job {label} cannot take its lock: {describe_os_error(error)}") from error
    try:
        try:
            lock = _take(path, descriptor, label)
        except OSError as error:
            raise JobFailedError(f"job {label} cannot take its lock: {describe_os_error(error)}") from error
        yield lock
    finally:
        # closing the descriptor releases the lock
        os.close(descriptor)


def _take(path: str, descriptor: int, label: str) -> JobLock:
    waited = False
    holder = None
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EAGAIN):
            raise
        waited = True
        holder = _holder(path, descriptor)
        print(
            f"phyper: job {label} is being run by another process"
            f"{f' ({holder})' if holder else ''}; waiting for it to finish",
            file=sys.stderr,
            flush=True,
        )
        fcntl.lockf(descriptor, fcntl.LOCK_EX)
    info = json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "since": time.time()})
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, info.encode("utf-8"), 0)
    return JobLock(path, waited, holder)
