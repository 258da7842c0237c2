"""Manifests: each hashed folder says which resource, hash and key values it holds."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from phyper._errors import ManifestError, ManifestMismatchError, PhyperError
from phyper._fs import atomic_write_text, leftover_temporaries
from phyper._model.context import FULL_INSTANCE
from phyper._model.hashing import HASH_FORMAT_VERSION, hash_key_values
from phyper._state.formats import MANIFEST, DamagedStateFile, read_json_file

if TYPE_CHECKING:
    from phyper._model.instance import Instance

__all__ = [
    "MANIFEST_NAME",
    "FolderMove",
    "Manifest",
    "MigrationPlan",
    "apply_migration",
    "plan_migration",
    "read_manifest",
]

MANIFEST_NAME = "phyper-manifest.json"
P = TypeVar("P", bound="Instance")


@dataclass(frozen=True)
class Manifest:
    """The content of a ``phyper-manifest.json``."""

    resource: str
    hash: str
    key_values: dict[str, Any]
    hash_format_version: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "phyper_manifest": 1,
                "hash_format_version": self.hash_format_version,
                "resource": self.resource,
                "hash": self.hash,
                "key_values": {name: _json_value(value) for name, value in sorted(self.key_values.items())},
            },
            indent=2,
            allow_nan=False,
        ) + "\n"


def _json_value(value: Any) -> Any:
    # floats are tagged so 1.0 stays a float and infinities survive strict JSON
    if type(value) is float:
        return {"float": value.hex()} if math.isinf(value) else {"float": value}
    return value


def _from_json_value(value: Any) -> Any:
    if isinstance(value, dict):
        number = value["float"]
        return float.fromhex(number) if isinstance(number, str) else float(number)
    return value


def _manifest_path(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    # a hashed folder holds its manifest; a folder named like a manifest is a damaged one
    inside = os.path.isdir(path) and os.path.basename(os.path.normpath(path)) != MANIFEST_NAME
    return os.path.join(path, MANIFEST_NAME) if inside else path


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read a manifest file, or the manifest inside a hashed folder."""
    file_path = _manifest_path(path)
    try:
        # the described shape first (phyper._state.formats.MANIFEST); a newer format raises StateFormatError
        data = read_json_file(file_path, MANIFEST)
        manifest = Manifest(
            resource=data["resource"],
            hash=data["hash"],
            key_values={name: _from_json_value(v) for name, v in data["key_values"].items()},
            hash_format_version=data["hash_format_version"],
        )
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {file_path}") from None
    except DamagedStateFile as error:
        raise ManifestError(f"manifest {file_path} is not a valid phyper manifest: {error.what}") from None
    except (ValueError, KeyError, TypeError, OverflowError) as error:
        raise ManifestError(f"manifest {file_path} is not a valid phyper manifest: {error}") from None
    if manifest.hash_format_version != HASH_FORMAT_VERSION:
        raise ManifestError(
            f"manifest {file_path} uses hash format {manifest.hash_format_version}, this phyper "
            f"writes format {HASH_FORMAT_VERSION}; use parser.migrate_hashed_folders()"
        )
    try:
        recomputed = hash_key_values(manifest.key_values)
    except PhyperError as error:
        raise ManifestError(f"manifest {file_path} is not a valid phyper manifest: {error}") from None
    if recomputed != manifest.hash:
        raise ManifestMismatchError(
            f"manifest {file_path}: its key values hash to {recomputed}, "
            f"not to the recorded {manifest.hash}; the folder was edited by hand or is corrupt"
        )
    return manifest


def manifest_for(instance: Instance, resource_name: str | None) -> Manifest:
    return Manifest(
        resource=resource_name or FULL_INSTANCE,
        hash=instance.get_instance_hash(resource_name),
        # None values are recorded (as null) although the hash leaves them out: reading
        # the manifest back must give None, not the default of the hyperparameter
        key_values=instance.get_key_values(resource_name),
        hash_format_version=HASH_FORMAT_VERSION,
    )


def write_manifest(instance: Instance, resource_name: str | None) -> str:
    expected = manifest_for(instance, resource_name)
    folder = instance.get_resources_path(resource_name)
    path = os.path.join(folder, MANIFEST_NAME)
    for leftover in leftover_temporaries(path):  # a process killed while writing one left its temporary
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)
    if os.path.exists(path):
        found = read_manifest(path)
        if found.resource != expected.resource or _typed_values(found.key_values) != _typed_values(
            expected.key_values
        ):
            raise ManifestMismatchError(
                f"{folder} holds {found.resource} {found.key_values}, but this instance hashes "
                f"{expected.resource} {expected.key_values} to the same folder; this is a hash "
                "collision or a format drift: do not reuse the folder, report it"
            )
        return path
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(path, expected.to_json())
    return path


def _typed_values(key_values: dict[str, Any]) -> dict[str, tuple[type, Any]]:
    """What a hash depends on: values with their types (1 is not True), None left out."""
    return {name: (type(value), value) for name, value in key_values.items() if value is not None}


def instance_from_manifest(parser: P, path: str | os.PathLike[str]) -> P:
    manifest = read_manifest(path)
    resource_name = None if manifest.resource == FULL_INSTANCE else manifest.resource
    shared = parser._phyper_shared
    dependencies = set(shared.dependencies(resource_name))
    extra = set(manifest.key_values) - dependencies
    if extra:
        raise ManifestMismatchError(
            f"manifest {_manifest_path(path)} records {sorted(extra)}, which resource "
            f"`{manifest.resource}` does not depend on in this parser"
        )
    instance = parser.get_instance(**manifest.key_values)
    return instance


@dataclass(frozen=True)
class FolderMove:
    """One hashed folder whose manifest hashes to another folder under the current classes."""

    resource: str
    """The resource's folder name (``all`` for full instances)."""
    old_folder: str
    new_folder: str
    dropped: tuple[str, ...]
    """Names the manifest records that are no longer keys of the resource (their values are dropped)."""
    instance: Any
    """The instance of the current classes the manifest reads back as."""

    @property
    def old_hash(self) -> str:
        return os.path.basename(self.old_folder)

    @property
    def new_hash(self) -> str:
        return os.path.basename(self.new_folder)


@dataclass(frozen=True)
class MigrationPlan:
    """What a migration would do; nothing has moved yet.

    ``moves`` are the folders to rename; ``skipped`` the folders left alone with the
    reason (no manifest, unreadable manifest, values the current classes refuse);
    ``collisions`` maps a target folder to the two or more folders that would land
    on it (a migration with collisions is refused as a whole).
    """

    moves: list[FolderMove]
    skipped: list[tuple[str, str]]
    collisions: dict[str, list[str]]


def _migrated_instance(
    template: Instance, manifest: Manifest, resource_name: str | None, renames: Mapping[str, str]
) -> tuple[Any, tuple[str, ...]]:
    """The instance (other keys at their defaults) a manifest reads back as, and the dropped names."""
    shared = template._phyper_shared
    dependencies = set(shared.dependencies(resource_name))
    values: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in manifest.key_values.items():
        new_name = renames.get(name, name)
        if new_name in dependencies:
            values[new_name] = value
        else:
            # a key removed, moved to the non-keys, or no longer a dependency of the resource
            dropped.append(name)
    return template._with_values(shared.schema.defaults, values), tuple(dropped)


def plan_migration(
    template: Instance,
    *,
    renames: Mapping[str, str] | None = None,
    on_folder: Callable[[], None] | None = None,
) -> MigrationPlan:
    """Read every hashed folder's manifest under the current classes and plan the moves.

    Args:
        template: the parser, or any instance of it (only its classes and folder are used).
        renames: old key name -> new key name, for keys that were renamed.
        on_folder: called once per folder looked at (progress display).
    """
    renames = dict(renames or {})
    shared = template._phyper_shared
    root = shared.folder
    moves: list[FolderMove] = []
    skipped: list[tuple[str, str]] = []
    targets: dict[str, list[str]] = {}
    if root is None or not os.path.isdir(root):
        return MigrationPlan(moves, skipped, {})
    for resource_name in [None, *shared.resources]:
        resource_folder = shared.resource_folder(resource_name)
        if not os.path.isdir(resource_folder):
            continue
        for entry in sorted(os.listdir(resource_folder)):
            folder = os.path.join(resource_folder, entry)
            if entry.startswith(".") or not os.path.isdir(folder) or os.path.islink(folder):
                continue
            if on_folder is not None:
                on_folder()
            if not os.path.isfile(os.path.join(folder, MANIFEST_NAME)):
                skipped.append((folder, "no manifest"))
                continue
            try:
                manifest = read_manifest(folder)
                if manifest.resource != (resource_name or FULL_INSTANCE) or manifest.hash != entry:
                    raise ManifestMismatchError(
                        f"its manifest describes {manifest.resource}/{manifest.hash}, not this folder"
                    )
                instance, dropped = _migrated_instance(template, manifest, resource_name, renames)
            except PhyperError as error:
                skipped.append((folder, str(error)))
                continue
            new_folder = instance.get_resources_path(resource_name)
            targets.setdefault(os.path.normpath(new_folder), []).append(folder)
            if os.path.normpath(new_folder) != os.path.normpath(folder):
                moves.append(FolderMove(resource_name or FULL_INSTANCE, folder, new_folder, dropped, instance))
    moving = {os.path.normpath(move.old_folder) for move in moves}
    collisions = {target: sources for target, sources in targets.items() if len(sources) > 1}
    for move in moves:
        target = os.path.normpath(move.new_folder)
        if target not in collisions and os.path.exists(target) and target not in moving and target not in targets:
            # something that is not a migratable hashed folder sits where this one would go
            collisions[target] = [move.old_folder, target]
    return MigrationPlan(moves, skipped, collisions)


def apply_migration(plan: MigrationPlan) -> None:
    """Rename the planned folders and rewrite their manifests.

    Raises:
        ManifestMismatchError: the plan has collisions (nothing is moved).
    """
    if plan.collisions:
        listed = "; ".join(f"{', '.join(sources)} -> {target}" for target, sources in plan.collisions.items())
        raise ManifestMismatchError(
            f"cannot migrate: {len(plan.collisions)} target folder(s) would receive two or more "
            f"folders ({listed}); the classes no longer tell those results apart: move or delete "
            "the extra folders by hand, or rename the key instead of removing it"
        )
    # two phases, so a folder may move to where another one is moving away from
    parked = []
    for move in plan.moves:
        resource_folder = os.path.dirname(move.old_folder)
        temporary = os.path.join(resource_folder, f".phyper-migrating-{move.old_hash}")
        os.replace(move.old_folder, temporary)
        parked.append((temporary, move))
    for temporary, move in parked:
        os.replace(temporary, move.new_folder)
        os.remove(os.path.join(move.new_folder, MANIFEST_NAME))
        write_manifest(move.instance, None if move.resource == FULL_INSTANCE else move.resource)


def migrate_hashed_folders(parser: Instance, *, dry_run: bool) -> list[tuple[str, str]]:
    plan = plan_migration(parser)
    for folder, reason in plan.skipped:
        if reason != "no manifest":
            raise ManifestError(f"cannot migrate {folder}: {reason}")
    if not dry_run:
        apply_migration(plan)
    elif plan.collisions:
        apply_migration(plan)  # raises, listing the collisions; moves nothing
    return [(move.old_folder, move.new_folder) for move in plan.moves]
