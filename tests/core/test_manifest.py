"""Manifests in hashed folders: writing, reading back, mismatches and migrations."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import pytest

import phyper
from core_support import Instance, make_parser


def test_manifest_content_is_the_documented_json(instances: phyper.InstanceList[Instance], folder: Path) -> None:
    instance = instances[0]
    path = instance.write_manifest()
    assert os.path.join(folder, "all", instance.get_instance_hash(), "phyper-manifest.json") == path
    with open(path, encoding="utf-8") as handle:
        content = json.load(handle)
    assert {
        "phyper_manifest": 1,
        "hash_format_version": 1,
        "resource": "all",
        "hash": "5ba479e781bad6aa4f8c8182151ecc24",  # the pinned vector iris_full_first
        "key_values": {"centering": True, "cv_fold": 0, "cv_k": 5, "n_hidden_layers": 1, "seed": 0,
                       "transformation": "identity"},
    } == content


def test_resource_manifest_records_only_its_dependencies(
    instances: phyper.InstanceList[Instance], folder: Path
) -> None:
    path = instances[0].write_manifest("transformed_data")
    assert os.path.join(folder, "transformed_data", "8aa2ed0bff876e189b56e9daf38b079c", phyper.MANIFEST_NAME) == path
    manifest = phyper.read_manifest(path)
    assert ("transformed_data", "8aa2ed0bff876e189b56e9daf38b079c", {"transformation": "identity"}, 1) == (
        manifest.resource, manifest.hash, manifest.key_values, manifest.hash_format_version,
    )


def test_floats_are_tagged_in_the_manifest(folder: Path) -> None:
    class Rates(phyper.Parser):
        rate = 0.5
        ceiling = float("inf")

    path = Rates(hashed_resources_folder=folder).get_instance(rate=1).write_manifest()
    with open(path, encoding="utf-8") as handle:
        key_values = json.load(handle)["key_values"]
    assert {"ceiling": {"float": "inf"}, "rate": {"float": 1.0}} == key_values
    assert {"ceiling": float("inf"), "rate": 1.0} == phyper.read_manifest(path).key_values
    assert float is type(phyper.read_manifest(path).key_values["rate"])


def test_write_is_idempotent(instances: phyper.InstanceList[Instance]) -> None:
    path = instances[3].write_manifest("preprocessed_data")
    before = (Path(path).read_bytes(), os.stat(path).st_mtime_ns, os.stat(path).st_ino)
    assert path == instances[3].write_manifest("preprocessed_data")
    # an instance sharing the resource hash finds the same manifest and leaves it alone
    same_resource = next(i for i in instances[4:] if i.get_instance_hash("preprocessed_data") ==
                         instances[3].get_instance_hash("preprocessed_data"))
    assert path == same_resource.write_manifest("preprocessed_data")
    assert before == (Path(path).read_bytes(), os.stat(path).st_mtime_ns, os.stat(path).st_ino)


def test_write_leaves_only_the_manifest(instances: phyper.InstanceList[Instance]) -> None:
    path = instances[0].write_manifest()
    assert [phyper.MANIFEST_NAME] == os.listdir(os.path.dirname(path))


def test_a_failed_write_leaves_no_manifest_and_no_temporary_file(
    instances: phyper.InstanceList[Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        instances[0].write_manifest()
    assert [] == os.listdir(instances[0].get_resources_path())


def test_read_back_gives_the_instance(instances: phyper.InstanceList[Instance], parser: Instance) -> None:
    instance = instances[41]
    path = instance.write_manifest()
    assert instance == parser.instance_from_manifest(path)
    assert instance == parser.instance_from_manifest(os.path.dirname(path))


def test_read_back_of_a_resource_manifest_gives_its_values_and_defaults(
    instances: phyper.InstanceList[Instance], parser: Instance
) -> None:
    instance = instances[41]
    read_back = parser.instance_from_manifest(instance.write_manifest("preprocessed_data"))
    assert (instance.transformation, instance.centering) == (read_back.transformation, read_back.centering)
    assert (Instance.n_hidden_layers, Instance.cv_fold) == (read_back.n_hidden_layers, read_back.cv_fold)
    assert instance.get_instance_hash("preprocessed_data") == read_back.get_instance_hash("preprocessed_data")


class OptionalLimit(phyper.Parser):
    limit: Optional[int] = 5
    depth = 1


def test_a_none_value_reads_back_as_none_not_as_the_default(folder: Path) -> None:
    parser = OptionalLimit(hashed_resources_folder=folder)
    instance = parser.get_instance(limit=None)
    read_back = parser.instance_from_manifest(instance.write_manifest())
    assert (None, instance.get_instance_hash()) == (read_back.limit, read_back.get_instance_hash())


def test_a_manifest_without_its_none_values_still_matches(folder: Path) -> None:
    # manifests that left None values out (as the hash does) are still valid
    instance = OptionalLimit(hashed_resources_folder=folder).get_instance(limit=None)
    path = instance.write_manifest()
    content = json.loads(Path(path).read_text(encoding="utf-8"))
    del content["key_values"]["limit"]
    Path(path).write_text(json.dumps(content), encoding="utf-8")
    assert path == instance.write_manifest()


def test_a_folder_holding_another_instance_manifest_is_a_mismatch(
    instances: phyper.InstanceList[Instance],
) -> None:
    mine, other = instances[0], instances[1]
    other_manifest = Path(other.write_manifest())
    my_folder = Path(mine.get_resources_path())
    my_folder.mkdir(parents=True)
    (my_folder / phyper.MANIFEST_NAME).write_bytes(other_manifest.read_bytes())
    with pytest.raises(phyper.ManifestMismatchError) as caught:
        mine.write_manifest()
    assert isinstance(caught.value, phyper.ManifestError)
    assert isinstance(caught.value, ValueError)
    assert str(my_folder) in str(caught.value)
    assert "collision" in str(caught.value)


def test_a_hand_edited_manifest_is_a_mismatch(instances: phyper.InstanceList[Instance]) -> None:
    path = Path(instances[0].write_manifest())
    content = json.loads(path.read_text(encoding="utf-8"))
    content["key_values"]["seed"] = 1
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(phyper.ManifestMismatchError) as caught:
        phyper.read_manifest(path)
    assert "edited by hand or is corrupt" in str(caught.value)
    with pytest.raises(phyper.ManifestMismatchError):
        instances[0].write_manifest()


def test_a_manifest_with_a_value_of_no_type_is_a_manifest_error(instances: phyper.InstanceList[Instance]) -> None:
    path = Path(instances[0].write_manifest())
    content = json.loads(path.read_text(encoding="utf-8"))
    content["key_values"]["seed"] = [1, 2]
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(phyper.ManifestError):
        phyper.read_manifest(path)


# -- migrations --------------------------------------------------------------------------


class Version1(phyper.Parser):
    a = 1
    b = "x"


class Version2(phyper.Parser):
    a = 1
    b = "x"
    c = 0.5  # a new key with a non-None default: new full hashes


class Version3(phyper.Parser):
    a = 1
    b = "x"
    c: Optional[float] = None  # a new key defaulting to None: no hash changes


MIGRATION_GRID: dict[str, list[Any]] = {"a": [1, 2], "b": ["x", "y"]}


def _parser(cls: type[phyper.Parser], folder: Path) -> Any:
    parser = cls(hashed_resources_folder=folder)
    parser.register_new_resource("by_a", ["a"])
    return parser


def _populate(folder: Path) -> list[Any]:
    instances = _parser(Version1, folder).get_instances_from_dictionary(MIGRATION_GRID)
    for instance in instances:
        for resource in (None, "by_a"):
            content = f"{instance.a}-{instance.b}" if resource is None else f"{instance.a}"
            Path(instance.write_manifest(resource)).with_name("result.txt").write_text(content, encoding="utf-8")
    return instances


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_migration_after_a_new_key_renames_full_instance_folders(folder: Path) -> None:
    old = _populate(folder)
    parser = _parser(Version2, folder)
    new = parser.get_instances_from_dictionary(MIGRATION_GRID)
    expected_moves = {(o.get_resources_path(), n.get_resources_path()) for o, n in zip(old, new)}
    assert 4 == len({new_path for _, new_path in expected_moves} - {old_path for old_path, _ in expected_moves})

    before = _tree(folder)
    assert expected_moves == set(parser.migrate_hashed_folders(dry_run=True))
    assert before == _tree(folder)

    assert expected_moves == set(parser.migrate_hashed_folders())
    for o, n in zip(old, new):
        assert not os.path.exists(o.get_resources_path())
        assert f"{n.a}-{n.b}" == Path(n.get_resources_path(), "result.txt").read_text(encoding="utf-8")
        manifest = phyper.read_manifest(n.get_resources_path())
        assert ({"a": n.a, "b": n.b, "c": 0.5}, n.get_instance_hash()) == (manifest.key_values, manifest.hash)
        # the resource does not depend on c: its folder stays where it was
        assert o.get_resources_path("by_a") == n.get_resources_path("by_a")
        assert f"{o.a}" == Path(n.get_resources_path("by_a"), "result.txt").read_text(encoding="utf-8")
    assert [] == parser.migrate_hashed_folders()


def test_a_new_key_defaulting_to_none_keeps_every_hash(folder: Path) -> None:
    old = _populate(folder)
    parser = _parser(Version3, folder)
    new = parser.get_instances_from_dictionary(MIGRATION_GRID)
    for resource in (None, "by_a"):
        assert [o.get_instance_hash(resource) for o in old] == [n.get_instance_hash(resource) for n in new]
    before = _tree(folder)
    assert [] == parser.migrate_hashed_folders()
    assert before == _tree(folder)
    assert [o.get_instance_hash() for o in old] == [n.get_instance_hash() for n in new]


def test_migrating_an_empty_or_missing_folder_moves_nothing(folder: Path) -> None:
    assert [] == make_parser(folder).migrate_hashed_folders()
    folder.mkdir()
    assert [] == make_parser(folder).migrate_hashed_folders()
