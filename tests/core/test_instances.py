"""Instances from a grid; hashes, paths, lookups, filters and projections over them."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import phyper
from core_support import DISTINCT_HASHES, GRID, IRIS_CONFIG, RESOURCES, Instance, make_parser, run_python

ALL_RESOURCES = (*RESOURCES, None)


# -- the grid ------------------------------------------------------------------------


def test_seed_grid_gives_3_6_18_90_distinct_hashes(instances: phyper.InstanceList[Instance]) -> None:
    assert 90 == len(instances)
    assert DISTINCT_HASHES == {r: len(set(i.get_instance_hash(r) for i in instances)) for r in ALL_RESOURCES}


def test_grid_is_the_cartesian_product_in_grid_order(instances: phyper.InstanceList[Instance]) -> None:
    expected = list(itertools.product(*GRID.values()))
    assert expected == [tuple(getattr(i, name) for name in GRID) for i in instances]


def test_grid_keeps_exact_types_and_defaults_fill_the_rest(instances: phyper.InstanceList[Instance]) -> None:
    defaults = {"seed": 0, "cv_k": 5, "n_epochs": 2000, "batch_size": 32, "learning_rate": 0.001, "log_interval": 200}
    types = {"seed": int, "n_hidden_layers": int, "cv_k": int, "cv_fold": int, "transformation": str,
             "centering": bool, "n_epochs": int, "batch_size": int, "learning_rate": float, "log_interval": int}
    for instance in instances:
        values = instance.to_dict()
        assert defaults == {name: values[name] for name in defaults}
        assert types == {name: type(value) for name, value in values.items()}


def test_an_empty_grid_gives_the_defaults(parser: Instance) -> None:
    only = parser.get_instances_from_dictionary({})
    assert [parser.get_instance()] == list(only)
    assert Instance.seed == only[0].seed


def test_tuples_and_ranges_are_lists_too(parser: Instance) -> None:
    from_tuple = parser.get_instances_from_dictionary({"cv_fold": range(3), "transformation": ("log", "square")})
    assert [(0, "log"), (0, "square"), (1, "log"), (1, "square"), (2, "log"), (2, "square")] == [
        (i.cv_fold, i.transformation) for i in from_tuple
    ]


def test_a_single_non_key_value_in_the_grid_changes_no_hash(parser: Instance) -> None:
    plain = parser.get_instances_from_dictionary(GRID)
    with_epochs = parser.get_instances_from_dictionary({**GRID, "n_epochs": [3]})
    assert {3} == {i.n_epochs for i in with_epochs}
    assert [i.get_instance_hash() for i in plain] == [i.get_instance_hash() for i in with_epochs]


# -- paths ---------------------------------------------------------------------------


def test_resource_paths_are_folder_resource_hash(instances: phyper.InstanceList[Instance], folder: Path) -> None:
    for instance in instances:
        for resource in RESOURCES:
            assert os.path.join(folder, resource, instance.get_instance_hash(resource)) == (
                instance.get_resources_path(resource)
            )
        assert os.path.join(folder, "all", instance.get_instance_hash()) == instance.get_resources_path()


def test_hashes_and_paths_create_nothing_on_disk(
    instances: phyper.InstanceList[Instance], folder: Path, tmp_path: Path
) -> None:
    for instance in instances:
        for resource in ALL_RESOURCES:
            instance.get_instance_hash(resource)
            instance.get_resources_path(resource)
    phyper.get_instance_from_hash(instances[3].get_instance_hash(), instances)
    assert (False, []) == (folder.exists(), os.listdir(tmp_path))


def test_relative_folder_gives_relative_paths_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    instance = make_parser("derived_data").get_instances_from_dictionary(GRID)[0]
    expected = "derived_data/transformed_data/8aa2ed0bff876e189b56e9daf38b079c".replace("/", os.sep)
    assert expected == instance.get_resources_path("transformed_data")
    assert [] == os.listdir(tmp_path)


# -- hashes and lookups --------------------------------------------------------------


@pytest.mark.parametrize("resource", ALL_RESOURCES)
def test_get_instances_hashes_lists_distinct_hashes_in_first_seen_order(
    instances: phyper.InstanceList[Instance], resource: str | None
) -> None:
    expected = list(dict.fromkeys(instance.get_instance_hash(resource) for instance in instances))
    assert expected == Instance.get_instances_hashes(instances, resource_name=resource)
    assert expected == phyper.get_instances_hashes(list(instances), resource)
    assert DISTINCT_HASHES[resource] == len(expected)


def test_get_instance_from_hash_finds_every_instance(instances: phyper.InstanceList[Instance]) -> None:
    for instance in instances:
        assert instance is Instance.get_instance_from_hash(instance.get_instance_hash(), instances)
        assert instance is phyper.get_instance_from_hash(instance.get_instance_hash(), list(instances))


@pytest.mark.parametrize("resource", RESOURCES)
def test_get_instance_from_hash_gives_the_first_instance_of_a_resource_hash(
    instances: phyper.InstanceList[Instance], resource: str
) -> None:
    for instance in instances:
        first = next(i for i in instances if i.get_instance_hash(resource) == instance.get_instance_hash(resource))
        assert first is Instance.get_instance_from_hash(instance.get_instance_hash(resource), instances, resource)


def _count_hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    calls: list[str | None] = []
    original = Instance.get_instance_hash

    def counting(self: Instance, resource_name: str | None = None) -> str:
        calls.append(resource_name)
        return original(self, resource_name)

    monkeypatch.setattr(Instance, "get_instance_hash", counting)
    return calls


def test_lookup_index_is_built_once_and_reused(
    instances: phyper.InstanceList[Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = [instances[5].get_instance_hash(), instances[80].get_instance_hash()]
    calls = _count_hash_calls(monkeypatch)
    phyper.get_instance_from_hash(wanted[0], instances)
    assert 90 == len(calls)  # the index: one hash per instance
    calls.clear()
    for _ in range(3):
        assert instances[80] is phyper.get_instance_from_hash(wanted[1], instances)
    assert [] == calls  # no instance rehashed: the index was reused
    phyper.get_instance_from_hash(instances[0].get_instance_hash("preprocessed_data"), instances, "preprocessed_data")
    assert 91 == len(calls)  # another resource: its own index (plus the one call above)


def test_a_mutation_rebuilds_the_index(
    instances: phyper.InstanceList[Instance], monkeypatch: pytest.MonkeyPatch, parser: Instance
) -> None:
    phyper.get_instance_from_hash(instances[0].get_instance_hash(), instances)
    calls = _count_hash_calls(monkeypatch)
    instances.append(parser.get_instance(seed=1))
    phyper.get_instance_from_hash(instances[0].get_instance_hash(), instances)
    assert 92 == len(calls)  # the lookup's own call, then 91 for the new index


MUTATIONS: dict[str, Callable[[list[Any], Any], Any]] = {
    "append": lambda lst, extra: lst.append(extra),
    "extend": lambda lst, extra: lst.extend([extra]),
    "insert": lambda lst, extra: lst.insert(0, extra),
    "iadd": lambda lst, extra: lst.__iadd__([extra]),
    "imul": lambda lst, extra: lst.__imul__(2),
    "setitem": lambda lst, extra: lst.__setitem__(0, extra),
    "setslice": lambda lst, extra: lst.__setitem__(slice(0, 30), [extra]),
    "delitem": lambda lst, extra: lst.__delitem__(0),
    "delslice": lambda lst, extra: lst.__delitem__(slice(0, 45)),
    "pop": lambda lst, extra: lst.pop(),
    "pop_first": lambda lst, extra: lst.pop(0),
    "remove": lambda lst, extra: lst.remove(lst[0]),
    "clear": lambda lst, extra: lst.clear(),
    "reverse": lambda lst, extra: lst.reverse(),
    "sort": lambda lst, extra: lst.sort(key=lambda i: (i.transformation, -i.cv_fold)),
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
@pytest.mark.parametrize("resource", [None, "transformed_data"])
def test_lookups_after_any_mutation_see_the_new_content(
    instances: phyper.InstanceList[Instance], parser: Instance, mutation: Callable[..., Any], resource: str | None
) -> None:
    extra = parser.get_instance(seed=99, transformation="cube")
    every_hash = {i.get_instance_hash(resource) for i in [*instances, extra]}
    for resource_hash in every_hash:  # build (and use) the index before the mutation
        try:
            phyper.get_instance_from_hash(resource_hash, instances, resource)
        except phyper.UnknownHashError:
            pass
    mutation(instances, extra)
    for resource_hash in every_hash:
        holders = [i for i in instances if i.get_instance_hash(resource) == resource_hash]
        if holders:
            assert holders[0] is phyper.get_instance_from_hash(resource_hash, instances, resource)
        else:
            with pytest.raises(phyper.UnknownHashError):
                phyper.get_instance_from_hash(resource_hash, instances, resource)


def test_a_slice_is_an_instance_list_with_its_own_index(instances: phyper.InstanceList[Instance]) -> None:
    tail = instances[45:]
    assert isinstance(tail, phyper.InstanceList)
    assert instances[60] is phyper.get_instance_from_hash(instances[60].get_instance_hash(), tail)
    with pytest.raises(phyper.UnknownHashError):
        phyper.get_instance_from_hash(instances[0].get_instance_hash(), tail)


# -- filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "count"),
    [
        ({}, 90),
        ({"transformation": "log"}, 30),
        ({"transformation": "log", "centering": True}, 15),
        ({"n_hidden_layers": [1, 3]}, 60),
        ({"transformation": ["log"], "centering": False, "n_hidden_layers": 2, "cv_fold": [0, 4]}, 2),
    ],
)
def test_get_filtered_instances(
    instances: phyper.InstanceList[Instance], criteria: dict[str, Any], count: int
) -> None:
    def matches(instance: Instance) -> bool:
        for name, wanted in criteria.items():
            accepted = wanted if isinstance(wanted, list) else [wanted]
            if getattr(instance, name) not in accepted:
                return False
        return True

    expected = [i for i in instances if matches(i)]
    filtered = Instance.get_filtered_instances(instances, criteria)
    assert expected == list(filtered)
    assert count == len(filtered)
    assert isinstance(filtered, phyper.InstanceList)


def test_filters_tell_types_apart() -> None:
    from typing import Literal

    OneOrTrue = type("OneOrTrue", (phyper.Parser,), {"__annotations__": {"x": Literal[1, True]}, "x": 1})
    instances = OneOrTrue().get_instances_from_dictionary({"x": [1, True]})
    assert [instances[1]] == list(phyper.get_filtered_instances(instances, {"x": True}))


# -- run-time non-key overrides --------------------------------------------------------


def _all_hashes(instances: list[Instance]) -> list[list[str]]:
    return [[i.get_instance_hash(r) for r in ALL_RESOURCES] for i in instances]


def test_non_key_overrides_from_the_environment_change_values_not_hashes(
    parser: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(phyper.NON_KEYS_ENVIRONMENT_VARIABLE, raising=False)
    plain = parser.get_instances_from_dictionary(GRID)
    monkeypatch.setenv(phyper.NON_KEYS_ENVIRONMENT_VARIABLE, "n_epochs=5,log_interval=1 learning_rate=0.5")
    overridden = parser.get_instances_from_dictionary(GRID)
    assert {(5, 1, 0.5, 32)} == {(i.n_epochs, i.log_interval, i.learning_rate, i.batch_size) for i in overridden}
    assert {(int, int, float)} == {(type(i.n_epochs), type(i.log_interval), type(i.learning_rate)) for i in overridden}
    assert _all_hashes(plain) == _all_hashes(overridden)


def test_explicit_non_key_overrides_change_values_not_hashes(parser: Instance) -> None:
    plain = parser.get_instances_from_dictionary(GRID, non_key_overrides={})
    overridden = parser.get_instances_from_dictionary(GRID, non_key_overrides={"n_epochs": 7})
    assert {7} == {i.n_epochs for i in overridden}
    assert _all_hashes(plain) == _all_hashes(overridden)


def test_a_key_in_the_environment_overrides_is_an_error(parser: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(phyper.NON_KEYS_ENVIRONMENT_VARIABLE, "n_epochs=5,seed=3")
    with pytest.raises(phyper.NonKeyOverrideError) as caught:
        parser.get_instances_from_dictionary(GRID)
    assert isinstance(caught.value, ValueError)
    assert "`seed` is a key" in str(caught.value)
    assert "put it in the grid" in str(caught.value)


def test_a_key_in_explicit_overrides_is_an_error(parser: Instance) -> None:
    with pytest.raises(phyper.NonKeyOverrideError):
        parser.get_instances_from_dictionary(GRID, non_key_overrides={"cv_k": 3})


# -- without pandas, and what `import phyper` imports -----------------------------------

_WITHOUT_PANDAS = """
import json, runpy, sys
sys.modules["pandas"] = None  # `import pandas` now raises ImportError
import phyper
config = runpy.run_path({config!r})
instances, Instance = config["instances"], config["Instance"]
counts = [len(Instance.get_instances_hashes(instances, r)) for r in {resources!r}]
filtered = Instance.get_filtered_instances(instances, {{"transformation": "log"}})
found = Instance.get_instance_from_hash(instances[7].get_instance_hash(), instances) is instances[7]
path = instances[0].get_resources_path("transformed_data")
try:
    Instance.get_projections(instances, ["cv_fold"])
    error = None
except phyper.MissingDependencyError as caught:
    error = [isinstance(caught, ImportError), str(caught)]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {{"numpy", "snakemake", "doit", "torch"}})
print(json.dumps({{"counts": counts, "filtered": len(filtered), "found": found, "path": path,
                  "error": error, "heavy": heavy}}))
"""


def test_everything_but_projections_works_without_pandas(tmp_path: Path) -> None:
    code = _WITHOUT_PANDAS.format(config=str(IRIS_CONFIG), resources=ALL_RESOURCES)
    env = {k: v for k, v in os.environ.items() if k != phyper.NON_KEYS_ENVIRONMENT_VARIABLE}
    result = json.loads(run_python(code, cwd=tmp_path, env=env))
    is_import_error, message = result.pop("error")
    assert True is is_import_error
    assert {
        "counts": [3, 6, 18, 90],
        "filtered": 30,
        "found": True,
        "path": os.path.join("derived_data", "transformed_data", "8aa2ed0bff876e189b56e9daf38b079c"),
        "heavy": [],
    } == result
    assert "pandas is not installed" in message
    assert "pip install pandas" in message


def test_import_phyper_imports_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys, json\nimport phyper\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pandas', 'numpy', 'snakemake', 'doit', 'torch'})))"
    )
    assert [] == json.loads(run_python(code, cwd=tmp_path))
