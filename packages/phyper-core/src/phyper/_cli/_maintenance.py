"""Maintenance commands: ``gc`` (what the grid no longer reaches) and ``migrate``."""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from phyper._cli._command import JSON, Command, option
from phyper._cli._output import JsonObject, Output, Progress, format_values, human_size
from phyper._errors import ManifestMismatchError, ParserUsageError
from phyper._model.manifest import MANIFEST_NAME
from phyper._planning.pipeline import Pipeline
from phyper._results.accept import accept as accept_code_of
from phyper._results.inventory import folder_size, scan_folders, scan_records
from phyper._results.migrate import Migration, apply_pipeline_migration, plan_pipeline_migration

__all__ = [
    "COMMANDS", "AcceptResult", "FolderMove", "GcFolder", "GcRecord", "GcResult", "LeftAlone", "MigrateResult",
    "PathMove", "Skipped", "accept", "gc", "migrate",
]


# -- gc ----------------------------------------------------------------------------------


def _inside(path: str, root: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, base]) == base and real != base


def _unreached_folders(
    pipeline: Pipeline, unreadable: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Folders the grid does not reach: (orphans with a manifest, folders left alone).

    Left alone: those without a valid manifest, and those whose hash names a completion
    record that cannot be read (``unreadable``: key -> why): what it says is unknown.
    """
    progress = Progress("scanning folders")
    orphans: list[dict[str, Any]] = []
    left_alone: list[dict[str, Any]] = []
    for found in scan_folders(pipeline, on_folder=progress.tick):
        if found.reached:
            continue
        entry: dict[str, Any] = {"resource": found.resource, "hash": found.hash, "path": found.path}
        if found.manifest is None:
            left_alone.append({**entry, "reason": found.problem})
        elif unreadable and found.hash in unreadable:
            left_alone.append({**entry, "reason": unreadable[found.hash], "unreadable": "record"})
        else:
            orphans.append({**entry, "bytes": folder_size(found.path), "key_values": found.manifest.key_values})
    progress.done()
    return orphans, left_alone


def _delete(pipeline: Pipeline, root: str, orphans: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    for entry in orphans:
        # belt and braces: a real folder strictly inside the hashed-resources folder,
        # still holding the manifest it was judged by
        path = entry["path"]
        if os.path.islink(path) or not _inside(path, root) or not os.path.isfile(os.path.join(path, MANIFEST_NAME)):
            raise ManifestMismatchError(f"refusing to delete {path}: it changed since it was scanned")
        shutil.rmtree(path)
    for entry in records:
        if _inside(entry["path"], root) or _inside(entry["path"], pipeline.state_folder):
            os.remove(entry["path"])


def _gc_lines(deleted: bool, orphans: list[dict[str, Any]], records: list[dict[str, Any]], total: int) -> list[str]:
    verb = "deleted" if deleted else "would delete"
    lines = [f"{verb} {len(orphans)} folder(s) and {len(records)} completion record(s), {human_size(total)}"
             + ("" if deleted or not (orphans or records) else "; run `phyper gc --delete` to delete them")]
    lines += [f"  {e['path']}  {human_size(e['bytes'])}  {format_values(e['key_values'])}" for e in orphans]
    lines += [f"  {e['path']}  (record of {e['step']}:{e['key']}, no such job in the plan)" for e in records]
    return lines


def _left_alone_lines(left_alone: list[dict[str, Any]]) -> list[str]:
    if not left_alone:
        return []
    what = "folder(s) without a valid manifest" if all(e.get("unreadable") is None for e in left_alone) else (
        "folder(s) or record(s) whose manifest or completion record cannot be read")
    return [
        f"phyper: left alone {len(left_alone)} {what}: phyper cannot tell "
        "what they hold; check and remove them by hand",
        *(f"  {entry['path']}: {entry['reason']}" for entry in left_alone),
    ]


@dataclass(frozen=True)
class GcFolder(JsonObject):
    """An orphaned hashed folder (``phyper gc --json``)."""

    resource: str
    hash: str
    path: str
    bytes: int
    key_values: dict[str, Any]
    """As its manifest says."""


@dataclass(frozen=True)
class GcRecord(JsonObject):
    """A completion record of no job of the plan (``phyper gc --json``)."""

    path: str
    step: str
    key: str
    bytes: int


@dataclass(frozen=True)
class LeftAlone(JsonObject):
    """A folder or record phyper cannot identify: never deleted (``phyper gc --json``)."""

    path: str
    reason: str
    resource: str | None
    """A folder's resource (None for a record)."""
    hash: str | None
    step: str | None
    """A record's step (None for a folder)."""
    key: str | None
    unreadable: str | None
    """``record`` when a completion record cannot be read, None for a folder without a valid manifest."""


@dataclass(frozen=True)
class GcResult(JsonObject):
    """``phyper gc --json``."""

    deleted: bool
    folders: list[GcFolder]
    records: list[GcRecord]
    left_alone: list[LeftAlone]
    bytes: int


def gc(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper gc [--delete]``: folders and records the current grid no longer reaches."""
    root = pipeline.instances[0].hashed_resources_folder
    built = pipeline.plan()
    scanned = list(scan_records(pipeline, built))
    # a record that cannot be read is never deleted, nor the folder of its hash: both are listed
    unreadable = {r.key: r.problem for r in scanned if r.problem is not None}
    orphans, left_alone = _unreached_folders(pipeline, unreadable)
    records: list[dict[str, Any]] = [
        {"path": r.path, "step": r.step, "key": r.key, "bytes": os.path.getsize(r.path)}
        for r in scanned
        if not r.owned and r.problem is None
    ]
    left_alone += [
        {"path": r.path, "step": r.step, "key": r.key, "reason": r.problem, "unreadable": "record"}
        for r in scanned
        if not r.owned and r.problem is not None
    ]
    deleted = bool(arguments.delete and root is not None)
    if deleted and root is not None:
        _delete(pipeline, root, orphans, records)
    total = sum(entry["bytes"] for entry in orphans) + sum(entry["bytes"] for entry in records)
    return Output(
        data=GcResult(
            deleted,
            [GcFolder(e["resource"], e["hash"], e["path"], e["bytes"], e["key_values"]) for e in orphans],
            [GcRecord(e["path"], e["step"], e["key"], e["bytes"]) for e in records],
            [LeftAlone(e["path"], e["reason"], e.get("resource"), e.get("hash"), e.get("step"), e.get("key"),
                       e.get("unreadable")) for e in left_alone],
            total,
        ),
        lines=_gc_lines(deleted, orphans, records, total),
        problems=_left_alone_lines(left_alone),
        # folders phyper cannot identify need a person: say so with the exit status too
        status=1 if left_alone else 0,
    )


GC = Command(
    "gc", gc, "list (or --delete) folders and records the grid no longer reaches",
    "Find hashed folders under the hashed-resources folder and completion records that no "
    "instance or job of the current grid reaches. Lists them with sizes; deletes only with "
    "--delete. Never touches what the grid reaches, anything outside the hashed-resources "
    "folder, or a folder without a valid manifest or whose completion record cannot be read "
    "(reported on stderr and left alone; the exit status is then 1).",
    (option("--delete", action="store_true", help="delete what is listed (default: dry run)"), JSON),
)


# -- migrate -----------------------------------------------------------------------------


def _parse_renames(items: list[str]) -> dict[str, str]:
    renames: dict[str, str] = {}
    for item in items:
        old, equals, new = item.partition("=")
        if not equals or not old or not new:
            raise ParserUsageError(f"--rename `{item}` is not OLD=NEW (e.g. --rename n_layers=n_hidden_layers)")
        renames[old] = new
    return renames


@dataclass(frozen=True)
class FolderMove(JsonObject):
    """A folder moved to its new hash (``phyper migrate --json``)."""

    resource: str
    from_: str = field(metadata={"json": "from"})
    to: str = ""
    dropped: list[str] = field(default_factory=list)
    """Values its manifest holds that are no keys any more."""


@dataclass(frozen=True)
class PathMove(JsonObject):
    """A completion record moved to its new path (``phyper migrate --json``)."""

    from_: str = field(metadata={"json": "from"})
    to: str = ""


@dataclass(frozen=True)
class Skipped(JsonObject):
    """A folder or record left where it is, and why (``phyper migrate --json``)."""

    path: str
    reason: str


@dataclass(frozen=True)
class MigrateResult(JsonObject):
    """``phyper migrate --json``."""

    applied: bool
    refused: bool
    moves: list[FolderMove]
    records: list[PathMove]
    collisions: dict[str, list[str]]
    """Target folder -> the folders that would land on it (what refuses a migration)."""
    record_collisions: list[str]
    skipped: list[Skipped]

    @classmethod
    def of(cls, migration: Migration, applied: bool) -> MigrateResult:
        """The moves of a migration, and the collisions that refuse it."""
        return cls(
            applied=applied,
            refused=migration.refused,
            moves=[FolderMove(m.resource, m.old_folder, m.new_folder, list(m.dropped)) for m in migration.folders.moves],
            records=[PathMove(r.old_path, r.new_path) for r in migration.records],
            collisions={} if applied else {target: list(sources) for target, sources in migration.folders.collisions.items()},
            record_collisions=[] if applied else list(migration.record_collisions),
            skipped=[Skipped(path, reason) for path, reason in migration.folders.skipped],
        )


def _dropped(data: MigrateResult) -> list[str]:
    return sorted({name for move in data.moves for name in move.dropped})


def _refusal_lines(data: MigrateResult) -> list[str]:
    collisions = data.collisions
    # records collide because their folders do: list the folders, or else the records
    record_collisions = [] if collisions else data.record_collisions
    dropped = _dropped(data)
    return [
        f"phyper: migrate refused: {len(collisions) + len(record_collisions)} target(s) would receive "
        "two or more folders or records; nothing was moved",
        *(f"  {target} <- {', '.join(sources)}" for target, sources in collisions.items()),
        *(f"  record {path}" for path in record_collisions),
        "the current classes no longer tell these results apart"
        + (f" (values dropped: {', '.join(dropped)}, no longer keys)" if dropped else "")
        + ": delete the extra folders, or use --rename OLD=NEW if a key was renamed",
    ]


def _migrate_lines(data: MigrateResult, applied: bool) -> list[str]:
    moves = data.moves
    lines = [f"{'moved' if applied else 'would move'} {len(moves)} folder(s), "
             f"{'rewrote' if applied else 'would rewrite'} {len(data.records)} completion record(s)"
             + ("" if applied or not moves else "; run `phyper migrate --apply` to do it")]
    lines += [f"  {m.resource}: {os.path.basename(m.from_)} -> {os.path.basename(m.to)}" for m in moves]
    dropped = _dropped(data)
    if dropped:
        lines.append(f"values dropped (not keys of their resource any more): {', '.join(dropped)}; if a key was "
                     "renamed, use --rename OLD=NEW instead")
    problems = [entry for entry in data.skipped if entry.reason != "no manifest"]
    if problems:
        lines.append(f"left alone: {len(problems)} folder(s) or record(s) whose manifest or completion record "
                     "cannot be read under the current classes")
        lines += [f"  {entry.path}: {entry.reason}" for entry in problems]
    return lines


def migrate(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper migrate [--apply] [--rename OLD=NEW]``: rehash folders and records under the current classes."""
    renames = _parse_renames(arguments.rename)
    progress = Progress("reading manifests and records")
    migration = plan_pipeline_migration(pipeline, renames=renames, on_item=progress.tick)
    progress.done()
    if migration.refused:
        data = MigrateResult.of(migration, applied=False)
        return Output(data=data, problems=_refusal_lines(data), status=2)
    if arguments.apply:
        apply_pipeline_migration(migration)
    data = MigrateResult.of(migration, applied=arguments.apply)
    return Output(data=data, lines=_migrate_lines(data, arguments.apply))


MIGRATE = Command(
    "migrate", migrate, "move folders and records after a change of the classes",
    "After a key was added (with a default), renamed, removed or moved to the non-keys: read "
    "each hashed folder's manifest under the current classes, rehash it, and move the folder "
    "and its completion records, so that no engine reruns anything. Dry run by default. "
    "Refuses, listing them, when two folders would land on one hash.",
    (
        option("--apply", action="store_true", help="move the folders and records (default: dry run)"),
        option("--rename", action="append", metavar="OLD=NEW", default=[],
               help="a key renamed from OLD to NEW: keep the recorded value under the new name (repeatable)"),
        JSON,
    ),
)

# -- accept ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptResult:
    """``phyper accept --json``: step -> how many of its jobs were accepted."""

    accepted: dict[str, int]

    def to_json(self) -> dict[str, int]:
        """The counts by step."""
        return dict(self.accepted)


def accept(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper accept [STEP ...]``: today's code made the complete jobs (like ``snakemake --touch``)."""
    accepted = accept_code_of(pipeline, arguments.steps)
    lines = [f"{step}: accepted today's code for {count} job(s)" for step, count in accepted.items()]
    return Output(data=AcceptResult(dict(accepted)), lines=lines)


ACCEPT = Command(
    "accept", accept, "count results made by older code as made by today's code (no rerun)",
    "For the jobs of the given steps (default: every step) that are complete except that their "
    "code changed since they ran, record today's code as the code that made them, so that no "
    "tool reruns them (like `snakemake --touch`). Outputs are never touched; a job failing any "
    "other check (a missing output, a rewritten input) is left to run.",
    (option("steps", nargs="*", metavar="STEP", help="the steps to accept (default: all)"), JSON),
)

COMMANDS = (GC, MIGRATE, ACCEPT)
