"""Manifests: each hashed folder says which resource, hash and key values it holds."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from phyper._context import FULL_INSTANCE
from phyper._errors import ManifestError, ManifestMismatchError, PhyperError
from phyper._fs import atomic_write_text
from phyper._hashing import HASH_FORMAT_VERSION, hash_key_values

if TYPE_CHECKING:
    from phyper._parser import Parser

__all__ = ["MANIFEST_NAME", "Manifest", "read_manifest"]

MANIFEST_NAME = "phyper-manifest.json"
P = TypeVar("P", bound="Parser")


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
    return os.path.join(path, MANIFEST_NAME) if os.path.isdir(path) else path


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read a manifest file, or the manifest inside a hashed folder."""
    file_path = _manifest_path(path)
    try:
        with open(file_path, encoding="utf-8") as handle:
            data = json.load(handle)
        manifest = Manifest(
            resource=data["resource"],
            hash=data["hash"],
            key_values={name: _from_json_value(v) for name, v in data["key_values"].items()},
            hash_format_version=data["hash_format_version"],
        )
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {file_path}") from None
    except (ValueError, KeyError, TypeError) as error:
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


def manifest_for(instance: Parser, resource_name: str | None) -> Manifest:
    return Manifest(
        resource=resource_name or FULL_INSTANCE,
        hash=instance.get_instance_hash(resource_name),
        # None values are recorded (as null) although the hash leaves them out: reading
        # the manifest back must give None, not the default of the hyperparameter
        key_values=instance.get_key_values(resource_name),
        hash_format_version=HASH_FORMAT_VERSION,
    )


def write_manifest(instance: Parser, resource_name: str | None) -> str:
    expected = manifest_for(instance, resource_name)
    folder = instance.get_resources_path(resource_name)
    path = os.path.join(folder, MANIFEST_NAME)
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


def migrate_hashed_folders(parser: Parser, *, dry_run: bool) -> list[tuple[str, str]]:
    shared = parser._phyper_shared
    root = shared.folder
    if root is None or not os.path.isdir(root):
        return []
    moves: list[tuple[str, str]] = []
    for resource_name in [None, *shared.resources]:
        resource_folder = shared.resource_folder(resource_name)
        if not os.path.isdir(resource_folder):
            continue
        for entry in sorted(os.listdir(resource_folder)):
            folder = os.path.join(resource_folder, entry)
            if not os.path.isfile(os.path.join(folder, MANIFEST_NAME)):
                continue
            instance = instance_from_manifest(parser, folder)
            new_folder = instance.get_resources_path(resource_name)
            if os.path.normpath(new_folder) == os.path.normpath(folder):
                continue
            if os.path.exists(new_folder):
                raise ManifestMismatchError(
                    f"cannot migrate {folder} to {new_folder}: the target exists; resolve by hand"
                )
            moves.append((folder, new_folder))
            if not dry_run:
                os.replace(folder, new_folder)
                os.remove(os.path.join(new_folder, MANIFEST_NAME))
                write_manifest(instance, resource_name)
    return moves
