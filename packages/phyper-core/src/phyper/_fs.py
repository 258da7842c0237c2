"""Writing files so that a crash never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
from collections.abc import Iterator

__all__ = ["atomic_output", "atomic_write_text", "file_sha256", "leftover_temporaries"]


def _temporary_name(path: str, tag: str) -> str:
    folder, name = os.path.split(path)
    stem, suffix = os.path.splitext(name)
    # keep the suffix: np.save appends ".npy" and h5py/torch care about extensions
    return os.path.join(folder, f".{stem}.phyper-tmp-{tag}{suffix}")


def leftover_temporaries(path: str | os.PathLike[str]) -> list[str]:
    """Temporary files of [`atomic_output`][phyper.atomic_output] for ``path`` left behind by a killed process."""
    pattern = _temporary_name(glob.escape(os.fspath(path)), "*")
    return glob.glob(pattern)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Use it with libraries that write to a path:

    ```python
    with phyper.atomic_output(get_torch_model_path(instance)) as tmp:
        torch.save(model.state_dict(), tmp)
    ```

    If the block raises (or the process dies), ``path`` is untouched and the temporary
    file is removed (or, after a kill, left under a hidden ``.phyper-tmp-`` name).
    """
    target = os.fspath(path)
    folder = os.path.dirname(target)
    if folder:
        os.makedirs(folder, exist_ok=True)
    temporary = _temporary_name(target, os.urandom(6).hex())
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_output(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
