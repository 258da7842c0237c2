"""Migrating a finished pipeline after a change of the hyperparameter classes.

The folders move as `phyper._model.manifest.plan_migration` says (each manifest read
back under the current classes and rehashed). The completion records follow them:
a hashed step's record is renamed to the new hash, and in every record the paths of
moved folders are rewritten. Each rewritten record keeps its modification time, and
the data files keep theirs under a rename, because engines compare modification
times: afterwards neither Snakemake nor doit runs a job again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phyper._errors import ManifestMismatchError
from phyper._fs import atomic_write_text
from phyper._model.manifest import MigrationPlan, apply_migration, plan_migration
from phyper._state.records import read_record_checked

if TYPE_CHECKING:
    from phyper._planning.pipeline import Pipeline
    from phyper._state.formats import CompletionRecord

__all__ = ["Migration", "RecordMove", "apply_pipeline_migration", "plan_pipeline_migration"]


@dataclass(frozen=True)
class RecordMove:
    """A completion record to rewrite (and maybe rename)."""

    old_path: str
    new_path: str
    record: dict[str, Any]
    """The rewritten content."""


@dataclass(frozen=True)
class Migration:
    """Folders and records a migration moves; nothing has moved yet."""

    folders: MigrationPlan
    records: list[RecordMove]
    record_collisions: list[str]
    """New record paths that already hold a record no move takes away."""

    @property
    def refused(self) -> bool:
        """Whether the migration cannot be applied (two things would land in one place)."""
        return bool(self.folders.collisions or self.record_collisions)


def _replace_prefix(path: str, folders: Mapping[str, str]) -> str:
    """``path`` with a moved folder's old path replaced by its new one."""
    normal = os.path.normpath(path)
    parts = normal.split(os.sep)
    # hashed folders are <root>/<resource>/<hash>: try each ancestor, the deepest first
    for depth in range(len(parts), 0, -1):
        candidate = os.sep.join(parts[:depth])
        new = folders.get(candidate)
        if new is not None:
            rest = parts[depth:]
            return os.path.join(new, *rest) if rest else new
    return path


def _rewrite(record: CompletionRecord, folders: Mapping[str, str]) -> dict[str, Any]:
    rewritten = record.to_json()
    for field in ("outputs", "inputs"):
        rewritten[field] = {_replace_prefix(path, folders): entry for path, entry in rewritten[field].items()}
    return rewritten


def plan_pipeline_migration(
    pipeline: Pipeline,
    *,
    renames: Mapping[str, str] | None = None,
    on_item: Callable[[], None] | None = None,
) -> Migration:
    """What migrating ``pipeline``'s folders and completion records would do.

    A record that cannot be read is not rewritten, and the folder of its hash does not
    move (its record could not follow it): both are listed in ``folders.skipped``.

    Raises:
        StateFormatError: a record is in a newer format (nothing is planned).
    """
    folders = plan_migration(pipeline.instances[0], renames=renames, on_folder=on_item)
    found: list[tuple[str, str, str, CompletionRecord]] = []
    unreadable: list[tuple[str, str]] = []
    unreadable_keys: set[str] = set()
    existing: set[str] = set()
    state = pipeline.state
    for step in state.record_steps():
        for key, path in state.iter_records(step):
            if not state.is_record_file(path):
                continue
            existing.add(os.path.normpath(path))
            if on_item is not None:
                on_item()
            record, problem = read_record_checked(path)
            if record is None:
                unreadable.append((path, problem or "not a completion record"))
                unreadable_keys.add(key)
            else:
                found.append((path, step, key, record))
    if unreadable:
        folders = _leave_alone(folders, unreadable, unreadable_keys)
    moved = {os.path.normpath(m.old_folder): os.path.normpath(m.new_folder) for m in folders.moves}
    new_hash = {(m.resource, m.old_hash): m.new_hash for m in folders.moves}
    resource_of = {step.name: step.folder_resource for step in pipeline.steps.values() if step.kind != "aggregate"}
    records: list[RecordMove] = []
    for path, step, key, record in found:
        target_key = new_hash.get((resource_of.get(step, ""), key), key)
        rewritten = _rewrite(record, moved)
        if target_key != key:
            rewritten["key"] = target_key
            rewritten["migrated_from"] = key
        if rewritten != record.to_json():
            records.append(RecordMove(path, state.record_path(step, target_key), rewritten))
    leaving = {os.path.normpath(move.old_path) for move in records}
    collisions = [
        move.new_path
        for move in records
        if os.path.normpath(move.new_path) in existing and os.path.normpath(move.new_path) not in leaving
    ]
    arriving: dict[str, int] = {}
    for move in records:
        arriving[os.path.normpath(move.new_path)] = arriving.get(os.path.normpath(move.new_path), 0) + 1
    collisions += [path for path, count in arriving.items() if count > 1]
    return Migration(folders, records, sorted(set(collisions)))


def _leave_alone(folders: MigrationPlan, unreadable: list[tuple[str, str]], keys: set[str]) -> MigrationPlan:
    """``folders`` without the moves of folders whose hash names an unreadable record; those are listed."""
    kept = [move for move in folders.moves if move.old_hash not in keys]
    staying = [move for move in folders.moves if move.old_hash in keys]
    targets = {os.path.normpath(move.new_folder) for move in kept}
    skipped = [
        *folders.skipped,
        *((move.old_folder, "a completion record of this hash cannot be read: not moved") for move in staying),
        *unreadable,
    ]
    collisions = {target: sources for target, sources in folders.collisions.items() if os.path.normpath(target) in targets}
    return MigrationPlan(kept, skipped, collisions)


def apply_pipeline_migration(migration: Migration) -> None:
    """Move the folders, then rewrite the records, each keeping its modification time.

    Raises:
        ManifestMismatchError: the migration is refused (see `Migration.refused`);
            nothing is moved.
    """
    if migration.record_collisions and not migration.folders.collisions:
        raise ManifestMismatchError(
            "cannot migrate: completion records would overwrite others: "
            + ", ".join(migration.record_collisions)
        )
    apply_migration(migration.folders)  # raises on folder collisions before moving anything
    times = {}
    for move in migration.records:
        info = os.stat(move.old_path)
        times[move.new_path] = (info.st_atime_ns, info.st_mtime_ns)
    # every old record goes first: a record may be renamed to a name another one leaves
    for move in migration.records:
        if os.path.normpath(move.old_path) != os.path.normpath(move.new_path):
            os.remove(move.old_path)
    for move in migration.records:
        atomic_write_text(move.new_path, json.dumps(move.record, indent=1, sort_keys=True) + "\n")
        os.utime(move.new_path, ns=times[move.new_path])

