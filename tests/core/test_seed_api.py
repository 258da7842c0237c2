"""phyper 0.x's public names, with its call shapes, on core alone (no pandas, no engine).

The pandas-returning names (``get_df_of_instances``, ``get_instances_from_df`` and the
third argument of ``get_projections``) are checked in ``test_optional_dependencies.py``;
here only their behaviour without pandas.
"""

from __future__ import annotations

import json
import os
import pprint
import shutil
from pathlib import Path
from typing import Optional

import pytest

import phyper
from core_support import DISTINCT_HASHES, GRID, RESOURCES, Instance, make_parser, run_python


def transformed_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path("transformed_data"), "transformed_data.npy")


def model_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path(), "torch_model.torch")


class Other(phyper.Parser):
    depth = 1
    width: Optional[int] = None


# -- snakemake_helper_get_wildcarded_path ------------------------------------------------


def test_wildcarded_path_names_the_wildcard_as_the_seed(instances: phyper.InstanceList[Instance], folder: Path) -> None:
    seed_style = Instance.snakemake_helper_get_wildcarded_path(
        transformed_path, instances[0], resource_name="transformed_data"
    )
    full = Instance.snakemake_helper_get_wildcarded_path(model_path, instances[0])

    assert os.path.join(folder, "transformed_data", "{transformed_data_hash}", "transformed_data.npy") == seed_style
    assert os.path.join(folder, "all", "{hash}", "torch_model.torch") == full
    assert not folder.exists()  # pure string work: nothing created


def test_wildcarded_path_is_a_static_method_of_every_parser_subclass(tmp_path: Path) -> None:
    parser = Other(hashed_resources_folder=tmp_path)
    parser.register_new_resource("deep", ["depth"])
    instance = parser.get_instance(depth=4)

    def deep_path(i: Other) -> str:
        return os.path.join(i.get_resources_path("deep"), "x.txt")

    expected = os.path.join(tmp_path, "deep", "{deep_hash}", "x.txt")
    assert expected == Other.snakemake_helper_get_wildcarded_path(deep_path, instance, "deep")
    assert expected == instance.snakemake_helper_get_wildcarded_path(deep_path, instance, resource_name="deep")
    assert expected == phyper.Parser.snakemake_helper_get_wildcarded_path(deep_path, instance, "deep")


def test_wildcarded_path_keeps_literal_braces_and_takes_another_wildcard_name(
    instances: phyper.InstanceList[Instance], folder: Path
) -> None:
    def braced(instance: Instance) -> str:
        return os.path.join(instance.get_resources_path(), "{epoch}.pt")

    assert os.path.join(folder, "all", "{model}", "{{epoch}}.pt") == Instance.snakemake_helper_get_wildcarded_path(
        braced, instances[1], wildcard="model"
    )


def test_wildcarded_path_refuses_mistakes(instances: phyper.InstanceList[Instance], parser: Instance) -> None:
    helper = Instance.snakemake_helper_get_wildcarded_path
    with pytest.raises(phyper.PipelineDefinitionError, match="does not contain the hash of resource `transformed_data`"):
        helper(model_path, instances[0], resource_name="transformed_data")
    with pytest.raises(phyper.PipelineDefinitionError, match="does not contain the hash of the full instance"):
        helper(transformed_path, instances[0])
    with pytest.raises(phyper.PipelineDefinitionError, match="must be a function of an instance"):
        helper("derived_data/all/x/torch_model.torch", instances[0])  # type: ignore[arg-type]
    with pytest.raises(phyper.ParserUsageError, match="must be one instance .* got InstanceList"):
        helper(model_path, instances)  # type: ignore[arg-type]
    with pytest.raises(phyper.ParserUsageError, match="called on the parser"):
        helper(model_path, parser)
    with pytest.raises(phyper.UnknownResourceError, match="did you mean `transformed_data`"):
        helper(transformed_path, instances[0], resource_name="transformed_dat")
    with pytest.raises(phyper.PipelineDefinitionError, match="not a valid name"):
        helper(model_path, instances[0], wildcard="two words")
    assert issubclass(phyper.PipelineDefinitionError, ValueError)


# -- the parser's and the instances' own 0.x names ------------------------------------------


def test_old_names_that_are_aliases_are_the_same_functions() -> None:
    assert Instance.new_instance is Instance.get_instance
    assert Instance.get_hyperparameters is Instance.to_dict


def test_new_instance_has_every_default(parser: Instance) -> None:
    instance = parser.new_instance()

    assert parser.get_instance() == instance
    assert {"n_epochs": 2000, "batch_size": 32, "learning_rate": 0.001, "log_interval": 200, "seed": 0,
            "n_hidden_layers": 3, "cv_k": 5, "cv_fold": 0, "transformation": "identity",
            "centering": False} == instance.get_hyperparameters()
    with pytest.raises(phyper.ParserUsageError, match="parser operation"):
        instance.new_instance()


def test_get_hyperparameters_on_the_parser_and_an_instance(
    parser: Instance, instances: phyper.InstanceList[Instance]
) -> None:
    defaults = {"n_epochs": 2000, "batch_size": 32, "learning_rate": 0.001, "log_interval": 200, "seed": 0,
                "n_hidden_layers": 3, "cv_k": 5, "cv_fold": 0, "transformation": "identity", "centering": False}
    assert defaults == parser.get_hyperparameters()
    assert {**defaults, "n_hidden_layers": 2, "cv_fold": 0, "transformation": "identity",
            "centering": True} == instances[5].get_hyperparameters()


def test_hashable_hyperparameters_are_the_keys_as_a_set(
    parser: Instance, instances: phyper.InstanceList[Instance], tmp_path: Path
) -> None:
    keys = {"seed", "n_hidden_layers", "cv_k", "cv_fold", "transformation", "centering"}
    assert keys == parser.get_hashable_hyperparameters()
    assert keys == instances[7].get_hashable_hyperparameters(only_non_none=True)

    other = Other(tmp_path)
    assert {"depth", "width"} == other.get_hashable_hyperparameters()
    assert {"depth"} == other.get_hashable_hyperparameters(only_non_none=True)
    assert {"depth", "width"} == other.get_instance(width=3).get_hashable_hyperparameters(only_non_none=True)


def test_resource_names_are_sorted_on_the_parser_and_on_instances(
    parser: Instance, instances: phyper.InstanceList[Instance]
) -> None:
    expected = ["cross_validated_model", "preprocessed_data", "transformed_data"]
    assert expected == parser.get_resource_names()
    assert expected == instances[0].get_resource_names()
    assert [] == Instance().get_resource_names()


# -- get_resources -------------------------------------------------------------------------


@pytest.mark.parametrize("resource_name", [*RESOURCES, None])
def test_get_resources_gives_the_first_instance_of_each_hash(
    instances: phyper.InstanceList[Instance], resource_name: Optional[str]
) -> None:
    expected: dict[str, Instance] = {}
    for instance in instances:
        expected.setdefault(instance.get_instance_hash(resource_name), instance)

    resources = Instance.get_resources(instances, resource_name)

    assert DISTINCT_HASHES[resource_name] == len(resources)
    assert list(expected.values()) == resources
    assert list(expected.values()) == Instance.get_resources(list(instances), resource_name)  # a plain list too
    assert isinstance(resources, phyper.InstanceList)


def test_get_resources_bad_input(instances: phyper.InstanceList[Instance], parser: Instance) -> None:
    assert [] == Instance.get_resources([], "transformed_data")
    with pytest.raises(phyper.UnknownResourceError, match="unknown resource `model`"):
        Instance.get_resources(instances, "model")
    with pytest.raises(phyper.ParserUsageError, match="takes a list of instances"):
        Instance.get_resources(instances[0], "transformed_data")  # type: ignore[arg-type]
    with pytest.raises(phyper.ParserUsageError, match="got the parser"):
        Instance.get_resources([instances[0], parser], "transformed_data")


# -- manifests: generate_instance_info_files, snakemake_helper_log_hyperparameters ------------


def manifest_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(phyper.MANIFEST_NAME))


def test_hashing_creates_nothing_and_generate_instance_info_files_writes_each_folder_once(
    parser: Instance, instances: phyper.InstanceList[Instance], folder: Path
) -> None:
    for instance in instances:
        for resource_name in [None, *RESOURCES]:
            instance.get_instance_hash(resource_name)
            instance.get_resources_path(resource_name)
    assert not folder.exists()

    paths = parser.generate_instance_info_files(instances)

    assert 90 + 3 + 6 + 18 == len(paths) == len(set(paths))
    assert [Path(p) for p in sorted(paths)] == manifest_files(folder)
    for resource_name, directory in [(None, "all"), *((r, r) for r in RESOURCES)]:
        assert DISTINCT_HASHES[resource_name] == len(os.listdir(folder / directory))
    manifest = phyper.read_manifest(instances[0].get_resources_path("preprocessed_data"))
    assert ("preprocessed_data", {"transformation": "identity", "centering": True}) == (
        manifest.resource, manifest.key_values,
    )


def test_generate_instance_info_files_again_leaves_the_files_alone(
    parser: Instance, instances: phyper.InstanceList[Instance], folder: Path
) -> None:
    paths = parser.generate_instance_info_files(instances)
    before = {path: os.stat(path).st_mtime_ns for path in paths}

    assert paths == parser.generate_instance_info_files(instances)
    assert before == {path: os.stat(path).st_mtime_ns for path in paths}


def test_log_hyperparameters_writes_the_same_manifests(
    instances: phyper.InstanceList[Instance], folder: Path, tmp_path: Path
) -> None:
    paths = Instance.snakemake_helper_log_hyperparameters(instances)

    assert 117 == len(paths)
    assert [Path(p) for p in sorted(paths)] == manifest_files(folder)
    other_parser = make_parser(tmp_path / "other")
    assert sorted(os.path.relpath(p, folder) for p in paths) == sorted(
        os.path.relpath(p, tmp_path / "other")
        for p in other_parser.generate_instance_info_files(other_parser.get_instances_from_dictionary(GRID))
    )


def test_manifest_writers_bad_input(
    parser: Instance, instances: phyper.InstanceList[Instance], folder: Path, tmp_path: Path
) -> None:
    with pytest.raises(phyper.ParserUsageError, match="parser operation"):
        instances[0].generate_instance_info_files(instances)
    with pytest.raises(phyper.ParserUsageError, match="pass the instances this parser created"):
        parser.generate_instance_info_files([Other(tmp_path).get_instance()])  # type: ignore[list-item]
    with pytest.raises(phyper.ParserUsageError, match="takes a list of instances"):
        Instance.snakemake_helper_log_hyperparameters(instances[0])  # type: ignore[arg-type]
    assert [] == parser.generate_instance_info_files([])
    assert not folder.exists()
    # a folder that holds another instance's manifest is refused, not overwritten
    wrong = instances[-1].write_manifest("transformed_data")
    target = Path(instances[0].get_resources_path("transformed_data"))
    target.mkdir(parents=True)
    shutil.copy(wrong, target / phyper.MANIFEST_NAME)
    with pytest.raises(phyper.ManifestMismatchError):
        parser.generate_instance_info_files(instances)


def test_no_folder_no_manifests(instances: phyper.InstanceList[Instance]) -> None:
    without_folder = Instance()
    without_folder.register_new_resource("transformed_data", ["transformation"])
    with pytest.raises(phyper.PhyperError, match="no hashed_resources_folder"):
        without_folder.generate_instance_info_files(without_folder.get_instances_from_dictionary(GRID))


# -- load_instance_from_disk_by_hash -------------------------------------------------------------


def test_load_instance_from_disk_by_hash_round_trips(parser: Instance, instances: phyper.InstanceList[Instance]) -> None:
    parser.generate_instance_info_files(instances)
    instance = instances[41]

    loaded = parser.load_instance_from_disk_by_hash(instance.get_instance_hash())
    resource = parser.load_instance_from_disk_by_hash(
        instance.get_instance_hash("preprocessed_data"), resource_name="preprocessed_data"
    )

    assert instance == loaded
    assert parser.get_instance(transformation=instance.transformation, centering=instance.centering) == resource
    assert instance.get_instance_hash("preprocessed_data") == resource.get_instance_hash("preprocessed_data")
    assert parser.instance_from_manifest(instance.get_resources_path()) == loaded


def test_load_instance_from_disk_by_hash_bad_input(
    parser: Instance, instances: phyper.InstanceList[Instance], folder: Path
) -> None:
    instance = instances[2]
    full_hash = instance.get_instance_hash()
    with pytest.raises(phyper.ManifestError, match="no manifest in"):
        parser.load_instance_from_disk_by_hash(full_hash)
    assert None is parser.load_instance_from_disk_by_hash(full_hash, skip_missing=True)
    old_hash = "0d7146e6c9d5397a8c604924fc7d8d8b4b3efd903b462b9e7e22fc0275a5a280"
    with pytest.raises(phyper.UnknownHashError, match=r"\(64 characters\) is not a phyper hash .*phyper 0.x"):
        parser.load_instance_from_disk_by_hash(old_hash)
    with pytest.raises(phyper.UnknownHashError, match="is not a phyper hash"):
        parser.load_instance_from_disk_by_hash("../all")
    with pytest.raises(phyper.UnknownResourceError, match="unknown resource `transformed`"):
        parser.load_instance_from_disk_by_hash(full_hash, resource_name="transformed")
    with pytest.raises(phyper.ParserUsageError, match="parser operation"):
        instance.load_instance_from_disk_by_hash(full_hash)
    # a hashed folder renamed by hand: its manifest's values hash to its old name
    instance.write_manifest()
    other_hash = instances[3].get_instance_hash()
    os.rename(instance.get_resources_path(), folder / "all" / other_hash)
    with pytest.raises(phyper.ManifestMismatchError, match=f"hash is {full_hash}, not {other_hash}"):
        parser.load_instance_from_disk_by_hash(other_hash)
    # the manifest of one resource, copied under another resource's folders
    resource_hash = instance.get_instance_hash("transformed_data")
    shutil.copytree(Path(instance.write_manifest("transformed_data")).parent, folder / "preprocessed_data" / resource_hash)
    with pytest.raises(phyper.ManifestMismatchError):
        parser.load_instance_from_disk_by_hash(resource_hash, resource_name="preprocessed_data")


def test_load_by_hash_refuses_an_edited_manifest(parser: Instance, instances: phyper.InstanceList[Instance]) -> None:
    path = Path(instances[0].write_manifest("transformed_data"))
    content = json.loads(path.read_text())
    content["key_values"]["transformation"] = "log"
    path.write_text(json.dumps(content))
    with pytest.raises(phyper.ManifestMismatchError, match="edited by hand"):
        parser.load_instance_from_disk_by_hash(instances[0].get_instance_hash("transformed_data"), "transformed_data")


# -- describe_instance_from_hash --------------------------------------------------------------


def test_describe_instance_from_hash_prints_the_values(
    instances: phyper.InstanceList[Instance], capsys: pytest.CaptureFixture[str]
) -> None:
    instance = instances[10]

    assert None is Instance.describe_instance_from_hash(instance.get_instance_hash(), instances)
    full = capsys.readouterr().out
    Instance.describe_instance_from_hash(instance.get_instance_hash("preprocessed_data"), instances, "preprocessed_data")
    resource = capsys.readouterr().out

    assert pprint.pformat(instance.to_dict(), sort_dicts=False) + "\n" == full
    assert "{'transformation': 'identity', 'centering': True}\n" == resource


def test_describe_instance_from_hash_bad_input(instances: phyper.InstanceList[Instance]) -> None:
    with pytest.raises(phyper.UnknownHashError, match="no instance has resource `transformed_data` hash"):
        Instance.describe_instance_from_hash(instances[0].get_instance_hash(), instances, "transformed_data")
    with pytest.raises(phyper.UnknownHashError, match="list of instances is empty"):
        Instance.describe_instance_from_hash("0" * 32, [])
    with pytest.raises(phyper.ParserUsageError, match="takes a list of instances"):
        Instance.describe_instance_from_hash(instances[0].get_instance_hash(), instances[0])  # type: ignore[arg-type]


# -- without pandas, and without any engine ------------------------------------------------------


def test_get_instances_from_df_refuses_what_is_not_a_data_frame(parser: Instance) -> None:
    with pytest.raises(phyper.GridValueError, match="takes a pandas DataFrame .* got dict"):
        parser.get_instances_from_df(GRID)
    with pytest.raises(phyper.ParserUsageError, match="parser operation"):
        parser.new_instance().get_instances_from_df(GRID)


def test_the_seed_api_imports_no_engine_and_no_pandas(tmp_path: Path) -> None:
    code = """
import os, sys
sys.modules['pandas'] = None  # importing pandas now fails, as when it is not installed
import phyper
from core_support import make_parser, GRID, Instance

parser = make_parser('derived_data')
instances = parser.get_instances_from_dictionary(GRID)
path = Instance.snakemake_helper_get_wildcarded_path(
    lambda i: os.path.join(i.get_resources_path('preprocessed_data'), 'x.npy'), instances[0], 'preprocessed_data')
print(path)
parser.generate_instance_info_files(instances)
parser.load_instance_from_disk_by_hash(instances[0].get_instance_hash())
Instance.get_resources(instances, 'transformed_data')
Instance.describe_instance_from_hash(instances[0].get_instance_hash(), instances)
Instance.snakemake_helper_log_hyperparameters(instances)
for call in (lambda: Instance.get_df_of_instances(instances),
             lambda: Instance.get_projections(instances, ['cv_fold'], 'transformed_data')):
    try:
        call()
    except phyper.MissingDependencyError as error:
        print(type(error).__name__, 'pip install pandas' in str(error))
print(sorted(name for name in ('pandas', 'numpy', 'snakemake', 'doit') if sys.modules.get(name)))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    lines = run_python(code, env=env, cwd=tmp_path).splitlines()

    assert [os.path.join("derived_data", "preprocessed_data", "{preprocessed_data_hash}", "x.npy"),
            "MissingDependencyError True", "MissingDependencyError True", "[]"] == [lines[0], *lines[-3:]]


# -- carrying phyper 0.x results over -------------------------------------------------------------

# folder names phyper 0.x gave the seed's values (its own test data): the transformed data of
# 'square', and the full instance transformation='log', centering=False, n_hidden_layers=1, cv_fold=2
OLD_SQUARE = "6dbab4c9ca812a269ead275cb01e655c19fc619feeb538a7e61821713d396eee"
OLD_INSTANCE = "0d7146e6c9d5397a8c604924fc7d8d8b4b3efd903b462b9e7e22fc0275a5a280"


def old_layout(folder: Path) -> tuple[Path, Path]:
    square = folder / "transformed_data" / OLD_SQUARE
    square.mkdir(parents=True)
    (square / "transformed_data.npy").write_text("square data")
    (square / "instance_info.json").write_text(json.dumps({"transformation": "square"}, indent=4))
    model = folder / "all" / OLD_INSTANCE
    model.mkdir(parents=True)
    (model / "torch_model.torch").write_text("model 47")
    return square, model


def test_phyper0_folders_move_to_their_new_names(
    parser: Instance, instances: phyper.InstanceList[Instance], folder: Path
) -> None:
    old_square, old_model = old_layout(folder)
    square = parser.get_instance(transformation="square")
    model = parser.get_instance(transformation="log", centering=False, n_hidden_layers=1, cv_fold=2)
    expected = [(str(old_model), model.get_resources_path()),
                (str(old_square), square.get_resources_path("transformed_data"))]

    assert expected == parser.migrate_phyper0_folders(instances, dry_run=True)
    assert old_square.is_dir() and old_model.is_dir()
    parser.generate_instance_info_files(instances)  # as a 0.x config.py does at import
    assert expected == parser.migrate_phyper0_folders(instances)

    assert "square data" == Path(square.get_resources_path("transformed_data"), "transformed_data.npy").read_text()
    assert "model 47" == Path(model.get_resources_path(), "torch_model.torch").read_text()
    assert not old_square.exists() and not old_model.exists()
    assert model == parser.load_instance_from_disk_by_hash(model.get_instance_hash())
    assert [] == parser.migrate_phyper0_folders(instances)


def test_phyper0_migration_refuses_to_overwrite_or_to_trust_a_wrong_record(
    parser: Instance, instances: phyper.InstanceList[Instance], folder: Path
) -> None:
    old_square, old_model = old_layout(folder)
    model = parser.get_instance(transformation="log", centering=False, n_hidden_layers=1, cv_fold=2)
    Path(model.get_resources_path()).mkdir(parents=True)
    Path(model.get_resources_path(), "torch_model.torch").write_text("new model")
    with pytest.raises(phyper.ManifestMismatchError, match="already holds results"):
        parser.migrate_phyper0_folders(instances)
    assert old_square.is_dir()  # nothing moved: every move is checked first

    shutil.rmtree(model.get_resources_path())
    (old_square / "instance_info.json").write_text(json.dumps({"transformation": "log"}))
    with pytest.raises(phyper.ManifestMismatchError, match="records {'transformation': 'log'}"):
        parser.migrate_phyper0_folders(instances)
    with pytest.raises(phyper.ParserUsageError, match="parser operation"):
        instances[0].migrate_phyper0_folders(instances)
