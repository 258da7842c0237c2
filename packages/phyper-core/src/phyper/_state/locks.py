"""Every lock phyper takes on a file, through one mechanism: POSIX record locks.

Who uses it: the per-job locks (`hold_lock`: a job never runs twice at once, whoever
starts it), the device pool (`phyper._running.device_pool`: one byte per share of a GPU, the
pool-wide lock, the markers of waiting jobs), the search driver (its owner, point
and record locks) and the Snakemake backend (its engine lock). All of them go
through `FileLock`; nothing else in phyper calls ``fcntl`` or ``flock``.

**The mechanism.** An exclusive POSIX record lock (``fcntl(F_SETLK / F_SETLKW)``,
which Python's ``fcntl.lockf`` calls) on the whole file or on a byte range of it.
Chosen over ``flock`` because:

* it is the one kind with byte ranges, which the device pool needs (a slot is a byte);
* on a shared filesystem, NFSv4 (and NFSv3 with ``lockd``/``statd``) implements POSIX
  record locks across hosts. ``flock`` has no protocol of its own there: Linux
  (since 2.6.12) emulates it on NFS with a POSIX lock of the whole file, so the same
  ``flock`` behaves as a per-open-file lock on a local disk and as a per-process
  POSIX lock on NFS, and an ``flock`` and an ``fcntl`` lock on one file conflict on
  NFS but not locally. One mechanism behaves the same on both.

**What it guarantees.**

* On one machine, the kernel releases every lock of a process when it exits, however
  it exits (``kill -9``, the OOM killer, a crash): a dead process's lock never blocks.
  A forked child inherits no lock.
* Across hosts on NFSv4 (or NFSv3 with ``lockd``), the lock excludes processes on
  every host; when a client host dies, the server frees its locks when its lease
  expires (90 s by default on NFSv4) or when ``statd`` reports its reboot. A
  filesystem mounted with ``nolock``, or one without lock support, gives no
  cross-host exclusion: the locks then only protect processes on the same host.
* A file a process may wait on (a job's lock, a device's slots, the pool lock, the
  search's and the engine's locks) is never deleted: deleting it while another process
  waits on it would let a third one lock a new file of the same name. A waiting job's
  marker, which nobody waits on, is deleted by its job when it stops waiting, or by a
  reader that could lock it (its job died; see `phyper._running.device_pool`).

**The two traps of POSIX locks, and how this module closes them.** A POSIX lock
belongs to the *process* and the *file*: (1) closing *any* descriptor of a file
drops every lock the process holds on it, and (2) two threads (or two objects) of
one process never conflict (the second "gets" a lock the first holds). So every
lock file a process uses is opened once, in a process-wide table keyed by the
file's identity (device, inode), reference counted, and closed only when no
`FileLock` of the process uses it any more; and the table itself excludes the
holders inside the process: a `FileLock` on a range that another `FileLock` of the
same process holds waits for it (or fails, not blocking), exactly as a lock held by
another process. The search driver, which takes owner, point and record locks from
several threads of one process, relies on it. Reading a lock file's content goes
through the same table (`FileLock.read`, `read_lock_file`), never through a
separate ``open``. (The kernel's deadlock detector, which also counts processes and
not threads, may call a wait that crosses two threads of a process a deadlock
(``EDEADLK``): a blocking `FileLock` then waits again, see `_lock`.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from phyper._errors import JobFailedError, describe_os_error
from phyper._state.formats import LOCK, parse_json

__all__ = ["FileLock", "JobLock", "hold_lock", "is_locked", "read_lock_file"]


class _Ranges:
    """Byte ranges (start, end; end -1: to the end of the file), single bytes kept apart (the GPU pool has many)."""

    def __init__(self) -> None:
        self.bytes: set[int] = set()
        self.others: list[tuple[int, int]] = []

    def __bool__(self) -> bool:
        return bool(self.bytes or self.others)

    def __contains__(self, taken: tuple[int, int]) -> bool:
        start, end = taken
        return start in self.bytes if end == start + 1 else taken in self.others

    def add(self, taken: tuple[int, int]) -> None:
        start, end = taken
        if end == start + 1:
            self.bytes.add(start)
        else:
            self.others.append(taken)

    def remove(self, taken: tuple[int, int]) -> None:
        start, end = taken
        if end == start + 1:
            self.bytes.remove(start)
        else:
            self.others.remove(taken)

    def overlap(self, wanted: tuple[int, int]) -> bool:
        """Whether ``wanted`` overlaps a range held here."""
        start, end = wanted
        if any(_overlap(wanted, other) for other in self.others):
            return True
        if end == start + 1:
            return start in self.bytes
        return any(_overlap(wanted, (byte, byte + 1)) for byte in self.bytes)


class _OpenFile:
    """One lock file as this process has it open: its descriptors, users and held ranges."""

    def __init__(self, identity: tuple[int, int], descriptor: int) -> None:
        self.identity = identity
        self.descriptors = [descriptor]
        self.users = 0
        self.held = _Ranges()
        """The ranges `FileLock`s of this process hold or claim."""

    @property
    def descriptor(self) -> int:
        return self.descriptors[0]


_guard = threading.Condition()
_files: dict[tuple[int, int], _OpenFile] = {}


def _forget_after_fork() -> None:
    """A forked child holds none of its parent's locks: it starts with an empty table."""
    global _guard
    for entry in _files.values():
        for descriptor in entry.descriptors:
            with contextlib.suppress(OSError):
                os.close(descriptor)  # the child's copies: closing them drops nothing of the parent's
    _files.clear()
    _guard = threading.Condition()


os.register_at_fork(after_in_child=_forget_after_fork)


def _overlap(one: tuple[int, int], other: tuple[int, int]) -> bool:
    (start, end), (other_start, other_end) = one, other
    return (end == -1 or other_start < end) and (other_end == -1 or start < other_end)


def _open_descriptor(path: str, create: bool) -> int:
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    if create:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        return os.open(path, flags, 0o644)
    except IsADirectoryError:
        if not create:
            raise
        # an (empty) folder in the lock file's place holds no lock: replace it by a file;
        # one with files in it is left to a person (the error names it)
        with contextlib.suppress(OSError):
            os.rmdir(path)
        return os.open(path, flags, 0o644)


def _enter(path: str, create: bool) -> _OpenFile:
    """The table's entry for ``path`` (opened if this process has no descriptor of it), one user more.

    Called with ``_guard`` held. A descriptor opened here is closed only with its entry.
    """
    try:
        status = os.stat(path)
        entry = _files.get((status.st_dev, status.st_ino))
    except FileNotFoundError:
        entry = None
    if entry is None:
        descriptor = _open_descriptor(path, create)
        status = os.fstat(descriptor)
        identity = (status.st_dev, status.st_ino)
        entry = _files.get(identity)
        if entry is None:
            entry = _files[identity] = _OpenFile(identity, descriptor)
        else:
            # the file was reached by another name meanwhile: keep this descriptor open
            # too (closing it would drop the process's locks on the file)
            entry.descriptors.append(descriptor)
    entry.users += 1
    return entry


def _leave(entry: _OpenFile) -> None:
    """One user less; the last one closes the file's descriptors (called with ``_guard`` held)."""
    entry.users -= 1
    if entry.users == 0 and not entry.held:
        del _files[entry.identity]
        for descriptor in entry.descriptors:
            with contextlib.suppress(OSError):
                os.close(descriptor)


def _would_block(error: OSError) -> bool:
    return error.errno in (errno.EACCES, errno.EAGAIN)


_DEADLOCK_RETRY_S = 0.05


def _lock(descriptor: int, length: int, start: int, blocking: bool) -> None:
    """Take the kernel's lock on the range (waiting for it when ``blocking``).

    The kernel's deadlock detector counts a process, not a thread: a wait for a lock
    whose holder waits for one that another thread of this process holds is called a
    deadlock (``EDEADLK``), though that thread will let go. Waiting again a moment
    later is the right answer then.
    """
    while True:
        try:
            fcntl.lockf(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB), length, start)
            return
        except OSError as error:
            if not blocking or error.errno != errno.EDEADLK:
                raise
        time.sleep(_DEADLOCK_RETRY_S)


class FileLock:
    """An exclusive lock on a file (or a byte range of it), held by this process until released.

    One mechanism for every lock phyper takes (POSIX record locks; the module
    docstring gives why, and what holds on local disks, on NFS and after ``kill -9``).
    Two `FileLock`s of one process on the same range exclude each other as two
    processes do, whichever threads use them; releasing one never drops another.

    Args:
        path: the lock file (created, with its folder, when first acquired).
        start: the first byte of the range.
        length: the range's length; 0 (the default): from ``start`` to the end of the file, for ever.

    ```python
    lock = FileLock("state/locks/train.lock")
    with lock:  # waits for whoever holds it
        ...
    ```
    """

    def __init__(self, path: str, start: int = 0, length: int = 0) -> None:
        self.path = path
        self.start = start
        self.length = length
        self._range = (start, start + length if length else -1)
        self._entry: _OpenFile | None = None

    @property
    def held(self) -> bool:
        """Whether this lock holds its range now."""
        return self._entry is not None

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take the lock; True once held, False (only when not ``blocking``) if someone holds it.

        Raises:
            OSError: the file cannot be opened or locked (a read-only folder, say).
            RuntimeError: this lock is held already (it is not reentrant).
        """
        if self._entry is not None:
            raise RuntimeError(f"the lock on {self.path} is held already by this FileLock")
        with _guard:
            entry = _enter(self.path, create=True)
            while entry.held.overlap(self._range):
                if not blocking:
                    _leave(entry)
                    return False
                _guard.wait()  # a FileLock of this process (another thread) holds it
            entry.held.add(self._range)  # claimed: no other thread of this process asks the kernel for it
        try:
            _lock(entry.descriptor, self.length, self.start, blocking)
        except BaseException as error:
            with _guard:
                entry.held.remove(self._range)
                _leave(entry)
                _guard.notify_all()
            if isinstance(error, OSError) and not blocking and _would_block(error):
                return False
            raise
        self._entry = entry
        return True

    def release(self) -> None:
        """Give the lock back (nothing happens when it is not held)."""
        entry, self._entry = self._entry, None
        if entry is None:
            return
        try:
            fcntl.lockf(entry.descriptor, fcntl.LOCK_UN, self.length, self.start)
        finally:
            with _guard:
                entry.held.remove(self._range)
                _leave(entry)
                _guard.notify_all()

    @classmethod
    def take_free_bytes(cls, path: str, count: int) -> list[FileLock]:
        """Every byte among the first ``count`` of ``path`` that nobody holds now, each taken as a one-byte lock.

        What the GPU pool asks of a device's slots; one pass under this process's table
        (a `FileLock` per byte, each acquired without waiting, gives the same answer more slowly).
        """
        taken: list[FileLock] = []
        with _guard:
            entry = _enter(path, create=True)
            try:
                for byte in range(count):
                    if entry.held.overlap((byte, byte + 1)):
                        continue  # this process holds it (another FileLock)
                    try:
                        fcntl.lockf(entry.descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, byte)
                    except OSError as error:
                        if _would_block(error):
                            continue
                        raise
                    lock = cls(path, byte, 1)
                    lock._entry = entry
                    entry.held.add(lock._range)
                    entry.users += 1
                    taken.append(lock)
            except BaseException:
                for lock in taken:
                    with contextlib.suppress(OSError):
                        fcntl.lockf(entry.descriptor, fcntl.LOCK_UN, 1, lock.start)
                    entry.held.remove(lock._range)
                    lock._entry = None
                    _leave(entry)
                raise
            finally:
                _leave(entry)  # this call's own use; the locks taken keep the file open
        return taken

    @staticmethod
    def release_all(locks: list[FileLock]) -> None:
        """Give every lock of ``locks`` back (those not held are skipped), in one pass under the table."""
        held = [(lock, lock._entry) for lock in locks if lock._entry is not None]
        try:
            for lock, entry in held:
                with contextlib.suppress(OSError):
                    fcntl.lockf(entry.descriptor, fcntl.LOCK_UN, lock.length, lock.start)
        finally:
            with _guard:
                for lock, entry in held:
                    lock._entry = None
                    entry.held.remove(lock._range)
                    _leave(entry)
                _guard.notify_all()

    def read(self, size: int = 65536) -> bytes:
        """The lock file's content (held or not), read through this process's one descriptor of it."""
        with _guard:
            entry = _enter(self.path, create=True)
            try:
                return os.pread(entry.descriptor, size, 0)
            finally:
                _leave(entry)

    def write(self, data: bytes) -> None:
        """Replace the lock file's content (say who holds it); only while held.

        Raises:
            RuntimeError: the lock is not held.
        """
        if self._entry is None:
            raise RuntimeError(f"write to {self.path} without holding its lock")
        os.ftruncate(self._entry.descriptor, 0)
        os.pwrite(self._entry.descriptor, data, 0)

    def __enter__(self) -> FileLock:
        self.acquire(blocking=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


def is_locked(path: str) -> bool:
    """Whether a process (this one included) holds a lock on any part of the file ``path`` now.

    Nothing is created: no file, no lock (False).
    """
    with _guard:
        try:
            status = os.stat(path)
        except OSError:
            return False
        entry = _files.get((status.st_dev, status.st_ino))
        if entry is not None and entry.held:
            return True
        try:
            entry = _enter(path, create=False)
        except OSError:
            return False
        try:
            fcntl.lockf(entry.descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
        except OSError as error:
            if _would_block(error):
                return True
            raise
        else:
            # nobody held it: let it go at once (no FileLock of this process holds a range of it)
            fcntl.lockf(entry.descriptor, fcntl.LOCK_UN, 0, 0)
            return False
        finally:
            _leave(entry)


def read_lock_file(path: str, size: int = 65536) -> bytes | None:
    """The content of the lock file ``path`` (None: there is none), without dropping any lock of this process."""
    with _guard:
        try:
            entry = _enter(path, create=False)
        except OSError:
            return None
        try:
            return os.pread(entry.descriptor, size, 0)
        except OSError:
            return None
        finally:
            _leave(entry)


# -- per-job locks -----------------------------------------------------------------------


@dataclass
class JobLock:
    """A held job lock; ``waited`` says whether another process held it first."""

    path: str
    waited: bool
    holder: str | None


def _holder(path: str, content: bytes) -> str | None:
    """Who holds the lock, from the file's content (see `phyper._state.formats.LOCK`); None if unknown.

    The content is only for this message: garbage in it changes nothing.
    """
    try:
        info = LOCK.validate(parse_json(content, path), path)
        return f"pid {info['pid']} on {info['host']}, since {time.strftime('%H:%M:%S', time.localtime(info['since']))}"
    except (OSError, ValueError, OverflowError):
        return None


@contextlib.contextmanager
def hold_lock(path: str, label: str) -> Iterator[JobLock]:
    """Hold the lock file ``path`` of job ``label`` for the duration of the ``with`` block.

    If another process holds it, print who (to stderr) and wait until it is released.
    The file then says who holds it (host, pid, time), for the message of a job that
    has to wait; it is never deleted.

    Raises:
        JobFailedError: the lock cannot be taken (a read-only state folder, say).
    """
    lock = FileLock(path)
    try:
        waited = not lock.acquire(blocking=False)
        holder = None
        if waited:
            holder = _holder(path, lock.read(4096))
            print(
                f"phyper: job {label} is being run by another process"
                f"{f' ({holder})' if holder else ''}; waiting for it to finish",
                file=sys.stderr,
                flush=True,
            )
            lock.acquire(blocking=True)
        lock.write(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "since": time.time()}).encode("utf-8"))
    except OSError as error:
        lock.release()
        raise JobFailedError(f"job {label} cannot take its lock: {describe_os_error(error)}") from error
    try:
        yield JobLock(path, waited, holder)
    finally:
        lock.release()
