"""What needs the optional libraries: numpy scalars as values, pandas projections.

The core-only environment (``hatch run core:test``) leaves this one module out; every
other environment runs it.
"""

from __future__ import annotations

from typing import Optional

import numpy
import pandas
import pytest

import phyper
from core_support import Instance
from test_hash_vectors import PINNED, Real, Whole


def test_numpy_scalars_are_normalised_to_python_values() -> None:
    instance = Instance().get_instance(
        seed=numpy.int64(3), learning_rate=numpy.float32(0.5), centering=numpy.bool_(True),
        transformation=numpy.str_("log"), n_hidden_layers=numpy.uint8(2),
    )
    assert [(int, 3), (float, 0.5), (bool, True), (str, "log"), (int, 2)] == [
        (type(value), value)
        for value in (instance.seed, instance.learning_rate, instance.centering, instance.transformation,
                      instance.n_hidden_layers)
    ]
    assert Instance().get_instance(seed=3, learning_rate=0.5, centering=True, transformation="log",
                                   n_hidden_layers=2) == instance


def test_numpy_values_filter_like_python_values(instances: phyper.InstanceList[Instance]) -> None:
    filtered = Instance.get_filtered_instances(instances, {"cv_fold": numpy.int64(2)})

    assert [i for i in instances if i.cv_fold == 2] == list(filtered)
    assert 18 == len(filtered)


# -- projections -----------------------------------------------------------------------


def test_projection_has_one_row_per_combination_indexed_by_the_resource_hash(
    instances: phyper.InstanceList[Instance], parser: Instance
) -> None:
    names = parser.get_dependencies_for_resources("cross_validated_model")
    frame = Instance.get_projections(instances, hyperparameter_names=names)
    expected_rows = list(dict.fromkeys(tuple(getattr(i, n) for n in names) for i in instances))
    assert ["transformation", "centering", "n_hidden_layers"] == list(frame.columns)
    assert expected_rows == list(frame.itertuples(index=False, name=None))
    assert "hash" == frame.index.name
    assert phyper.get_instances_hashes(instances, "cross_validated_model") == list(frame.index)


def test_projection_dtypes(instances: phyper.InstanceList[Instance]) -> None:
    frame = phyper.get_projections(instances, ["transformation", "centering", "n_hidden_layers", "learning_rate"])
    assert pandas.api.types.is_string_dtype(frame["transformation"])
    assert ["bool", "int64", "float64"] == [str(frame[c].dtype) for c in ("centering", "n_hidden_layers",
                                                                         "learning_rate")]
    assert 18 == len(frame)
    assert 5 == len(phyper.get_projections(instances, "cv_fold"))


class WithOptional(phyper.Parser):
    limit: Optional[int] = None
    depth = 1


def test_projection_keeps_none_as_none_and_ints_as_ints() -> None:
    parser = WithOptional()
    parser.register_new_resource("limited", ["limit"])
    instances = parser.get_instances_from_dictionary({"limit": [None, 3]})
    frame = phyper.get_projections(instances, ["limit"])
    assert [None, 3] == frame["limit"].tolist()
    assert [int] == [type(v) for v in frame["limit"].tolist() if v is not None]
    assert [i.get_instance_hash("limited") for i in instances] == list(frame.index)


def test_seed_scoring_loop_over_projections(instances: phyper.InstanceList[Instance]) -> None:
    # score_models.py of the seed: one row per model, five folds behind each
    frame = Instance.get_projections(instances, instances[0].get_dependencies_for_resources("cross_validated_model"))
    for resource_hash, row in frame.iterrows():
        filtered = Instance.get_filtered_instances(instances, row.to_dict())
        assert 5 == len(filtered)
        assert set(range(5)) == set(Instance.get_projections(filtered, ["cv_fold"]).cv_fold.to_list())
        assert {resource_hash} == {i.get_instance_hash("cross_validated_model") for i in filtered}


def test_numpy_scalars_hash_like_the_python_values_they_equal() -> None:
    assert PINNED["float_tenth"] == Real().get_instance(x=numpy.float64(0.1)).get_instance_hash()
    assert PINNED["float_one"] == Real().get_instance(x=numpy.int64(1)).get_instance_hash()
    assert PINNED["int"] == Whole().get_instance(n=numpy.int64(3)).get_instance_hash()
    assert PINNED["int_negative"] == Whole().get_instance(n=numpy.int32(-42)).get_instance_hash()


# -- phyper 0.x names that return or take a DataFrame (tests/core/test_seed_api.py has the rest) --


def test_df_of_instances_has_one_row_per_instance_and_every_hyperparameter(
    instances: phyper.InstanceList[Instance],
) -> None:
    frame = Instance.get_df_of_instances(instances)

    assert list(instances[0].to_dict()) == list(frame.columns)
    assert [tuple(i.to_dict().values()) for i in instances] == list(frame.itertuples(index=False, name=None))
    assert "hash" == frame.index.name
    assert [i.get_instance_hash() for i in instances] == list(frame.index)


def test_df_of_a_resource_has_one_row_per_resource_hash(
    instances: phyper.InstanceList[Instance], parser: Instance
) -> None:
    frame = Instance.get_df_of_instances(instances, resource_name="preprocessed_data")

    assert ["transformation", "centering"] == list(frame.columns)
    assert [("identity", True), ("identity", False), ("log", True), ("log", False), ("square", True),
            ("square", False)] == list(frame.itertuples(index=False, name=None))
    assert phyper.get_instances_hashes(instances, "preprocessed_data") == list(frame.index)
    assert "bool" == str(frame["centering"].dtype)  # no casting to object or float


def test_df_of_instances_bad_input(instances: phyper.InstanceList[Instance]) -> None:
    assert (0, 0) == Instance.get_df_of_instances([]).shape
    with pytest.raises(phyper.UnknownResourceError, match="did you mean `transformed_data`"):
        Instance.get_df_of_instances(instances, resource_name="transformed")
    with pytest.raises(phyper.ParserUsageError, match="takes a list of instances"):
        Instance.get_df_of_instances(instances[0])  # type: ignore[arg-type]


def test_projection_with_a_resource_name_is_indexed_by_that_resource_hash(
    instances: phyper.InstanceList[Instance],
) -> None:
    by_default = Instance.get_projections(instances, ["transformation", "centering"])
    by_resource = Instance.get_projections(instances, ["transformation", "centering"], "preprocessed_data")
    # a combination shared by several hashes appears once per hash
    by_finer_resource = Instance.get_projections(instances, ["transformation"], resource_name="preprocessed_data")
    by_instance = Instance.get_projections(instances, ["cv_fold"], None)

    assert list(by_default.index) == list(by_resource.index)
    assert by_default.equals(by_resource)
    assert ["identity", "identity", "log", "log", "square", "square"] == by_finer_resource["transformation"].tolist()
    assert phyper.get_instances_hashes(instances, "preprocessed_data") == list(by_finer_resource.index)
    assert 90 == len(by_instance)
    assert [i.get_instance_hash() for i in instances] == list(by_instance.index)
    with pytest.raises(phyper.UnknownResourceError, match="unknown resource `preprocessed`"):
        Instance.get_projections(instances, ["cv_fold"], "preprocessed")


def test_instances_from_df_round_trip(parser: Instance, instances: phyper.InstanceList[Instance]) -> None:
    assert list(instances) == parser.get_instances_from_df(Instance.get_df_of_instances(instances))
    resources = parser.get_instances_from_df(Instance.get_df_of_instances(instances, "cross_validated_model"))
    assert 18 == len(resources)
    assert Instance.get_resources(instances, "cross_validated_model") == [
        parser.get_instance(**i.get_key_values("cross_validated_model")) for i in resources
    ]


def test_instances_from_df_normalise_values_and_take_defaults(
    parser: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(phyper.NON_KEYS_ENVIRONMENT_VARIABLE, "n_epochs=7")
    frame = pandas.DataFrame({"n_hidden_layers": numpy.array([1, 2], dtype="int64"), "learning_rate": [1, 0.5]})

    made = parser.get_instances_from_df(frame)

    assert [parser.get_instance(n_hidden_layers=1, learning_rate=1.0, n_epochs=7),
            parser.get_instance(n_hidden_layers=2, learning_rate=0.5, n_epochs=7)] == made
    assert [(int, float), (int, float)] == [(type(i.n_hidden_layers), type(i.learning_rate)) for i in made]
    assert isinstance(made, phyper.InstanceList)


def test_instances_from_df_bad_input(parser: Instance) -> None:
    with pytest.raises(phyper.UnknownHyperparameterError, match="did you mean `n_hidden_layers`"):
        parser.get_instances_from_df(pandas.DataFrame({"n_hiden_layers": [1]}))
    with pytest.raises(phyper.HyperparameterTypeError):
        parser.get_instances_from_df(pandas.DataFrame({"n_hidden_layers": ["two"]}))
    with pytest.raises(phyper.HyperparameterValueError):
        parser.get_instances_from_df(pandas.DataFrame({"learning_rate": [float("nan")]}))
    with pytest.raises(phyper.DuplicateInstanceError, match="rows 0 and 2 of the data frame"):
        parser.get_instances_from_df(pandas.DataFrame({"seed": [1, 2, 1]}))
    with pytest.raises(phyper.DuplicateInstanceError, match="differ only in non-keys"):
        parser.get_instances_from_df(pandas.DataFrame({"n_epochs": [1, 2]}))
