"""What is on disk: hashed folders and completion records, against a pipeline's grid.

The command line (``phyper ls``, ``show``, ``gc``, ``view``) and [`phyper.collect`][phyper.collect]
read the same inventory: every ``<hashed_resources_folder>/<resource>/<hash>`` folder,
whether the current grid reaches it and whether its manifest is valid, and every
completion record under the pipeline's state folder, whether a job of the current
plan owns it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phyper._errors import PhyperError
from phyper._model.context import FULL_INSTANCE
from phyper._model.hashing import HASH_HEX_DIGITS
from phyper._model.manifest import MANIFEST_NAME, Manifest, read_manifest
from phyper._state.records import read_record_checked

if TYPE_CHECKING:
    from phyper._planning.pipeline import Pipeline
    from phyper._planning.plan import Plan
    from phyper._state.formats import CompletionRecord

__all__ = [
    "HashedFolder",
    "RecordFile",
    "folder_size",
    "grid_hashes",
    "resource_name_of",
    "scan_folders",
    "scan_records",
]

_HASH_NAME = re.compile(f"[0-9a-f]{{{HASH_HEX_DIGITS}}}")


@dataclass(frozen=True)
class HashedFolder:
    """One ``<hashed_resources_folder>/<resource>/<hash>`` folder found on disk."""

    resource: str
    """The resource's folder name (``all`` for full instances)."""
    hash: str
    path: str
    reached: bool
    """Whether an instance of the current grid has this hash for this resource."""
    manifest: Manifest | None
    """The folder's valid manifest (read only for folders the grid does not reach)."""
    problem: str | None
    """Why the manifest is unusable (missing, invalid, describing another folder), if read."""


@dataclass(frozen=True)
class RecordFile:
    """One (non-hidden) file of a step's record folder."""

    path: str
    step: str
    key: str
    record: CompletionRecord | None
    """The parsed record, or None when the file is not a readable record."""
    owned: bool
    """Whether a job of the current plan has this record path."""
    problem: str | None = None
    """Why the file is not a readable record (``unreadable completion record (...)``), if it is not."""


def resource_name_of(folder_name: str) -> str | None:
    """``None`` for the full instances' folder ``all``, else the folder name itself."""
    return None if folder_name == FULL_INSTANCE else folder_name


def grid_hashes(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Resource folder name -> (hash -> first instance with it), for ``all`` and every resource."""
    shared = pipeline.instances[0]._phyper_shared
    return {
        name or FULL_INSTANCE: pipeline.instances.hash_index(name) for name in [None, *shared.resources]
    }


def _resource_folder_names(root: str, registered: list[str]) -> list[str]:
    """Registered resource folders first, then any other folder of ``root`` holding hash-named folders."""
    names = list(registered)
    if os.path.isdir(root):
        for entry in sorted(os.listdir(root)):
            path = os.path.join(root, entry)
            if entry in names or entry.startswith(".") or not os.path.isdir(path) or os.path.islink(path):
                continue
            # a resource that is no longer registered still has hash-named folders
            if any(_HASH_NAME.fullmatch(child) for child in os.listdir(path)):
                names.append(entry)
    return names


def scan_folders(pipeline: Pipeline, *, on_folder: Callable[[], None] | None = None) -> Iterator[HashedFolder]:
    """Every hashed folder under the pipeline's hashed_resources_folder.

    Manifests are read for folders the grid does not reach: for a reached folder the
    grid already says what it holds.
    """
    shared = pipeline.instances[0]._phyper_shared
    root = shared.folder
    if root is None:
        return
    reached = grid_hashes(pipeline)
    for name in _resource_folder_names(root, [FULL_INSTANCE, *shared.resources]):
        resource_folder = os.path.join(root, name)
        if not os.path.isdir(resource_folder):
            continue
        hashes = reached.get(name, {})
        for entry in sorted(os.listdir(resource_folder)):
            path = os.path.join(resource_folder, entry)
            if not _HASH_NAME.fullmatch(entry) or not os.path.isdir(path) or os.path.islink(path):
                continue
            if on_folder is not None:
                on_folder()
            is_reached = entry in hashes
            manifest: Manifest | None = None
            problem: str | None = None
            if not is_reached:
                manifest, problem = _checked_manifest(path, name, entry)
            yield HashedFolder(name, entry, path, is_reached, manifest, problem)


def _checked_manifest(path: str, resource: str, hash_: str) -> tuple[Manifest | None, str | None]:
    if not os.path.isfile(os.path.join(path, MANIFEST_NAME)):
        return None, f"no {MANIFEST_NAME}"
    try:
        manifest = read_manifest(path)
    except PhyperError as error:
        return None, str(error)
    if (manifest.resource, manifest.hash) != (resource, hash_):
        return None, f"its manifest describes {manifest.resource}/{manifest.hash}, not this folder"
    return manifest, None


def scan_records(pipeline: Pipeline, plan: Plan) -> Iterator[RecordFile]:
    """Every file of the state folder's record folders but hidden temporaries (see `StateStore.iter_records`)."""
    state = pipeline.state
    owned = {os.path.normpath(record) for record in plan.record_paths()}
    for step in state.record_steps():
        for key, path in state.iter_records(step):
            # a folder in a record's place is listed too, as unreadable: gc leaves it alone
            record, problem = read_record_checked(path)
            yield RecordFile(path, step, key, record, os.path.normpath(path) in owned, problem)


def folder_size(path: str) -> int:
    """Bytes in the files under ``path`` (symbolic links not followed)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass  # removed while walking
    return total
