"""What needs the optional libraries: numpy scalars as values, pandas projections.

The core-only environment (``hatch run core:test``) leaves this one module out; every
other environment runs it.
"""

from __future__ import annotations

from typing import Optional

import numpy
import pandas

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
