"""phyper 0.x's ``ehi = None``: a hyperparameter with a None default and no annotation.

0.x accepted it; phyper takes any scalar (or None) for it, each value hashed as its own
type, so the hashes are the pinned vectors of ``test_hash_vectors.py`` (never edited).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

import phyper
from test_hash_vectors import PINNED


class ZeroX(phyper.Parser):
    # as 0.x's own test scripts declare it: no annotation
    x = None


class Drifting:
    limit = None  # a non-key, also unannotated


class WithNonKey(phyper.Parser, Drifting):
    b = 0


class Annotated(phyper.Parser):
    x: Optional[float] = None


@pytest.mark.parametrize(
    ("given", "case_id"),
    [(1, "int_one"), (1.0, "float_one"), (True, "bool_true"), ("1", "str_one"), (None, "none_only"),
     (-0.0, "float_zero"), (0.1, "float_tenth"), (float("inf"), "float_inf")],
)
def test_each_value_hashes_as_its_own_type(given: object, case_id: str) -> None:
    assert PINNED[case_id] == ZeroX().get_instance(x=given).get_instance_hash()


def test_a_grid_of_mixed_values_keeps_every_value_and_its_resource_hashes(tmp_path: Path) -> None:
    parser = ZeroX(hashed_resources_folder=tmp_path)
    parser.register_new_resource("only_x", ["x"])
    instances = parser.get_instances_from_dictionary({"x": [None, 1, 1.0, True, "1"]})

    expected = [PINNED["none_only"], PINNED["int_one"], PINNED["float_one"], PINNED["bool_true"], PINNED["str_one"]]
    assert expected == [instance.get_instance_hash() for instance in instances]
    assert expected == [instance.get_instance_hash("only_x") for instance in instances]
    assert [None, 1, 1.0, True, "1"] == [instance.x for instance in instances]
    assert [type(None), int, float, bool, str] == [type(instance.x) for instance in instances]


def test_numpy_scalars_become_python_values() -> None:
    numpy = pytest.importorskip("numpy")
    instance = ZeroX().get_instance(x=numpy.int64(1))
    other = ZeroX().get_instance(x=numpy.float64(0.1))

    assert (1, int, PINNED["int_one"]) == (instance.x, type(instance.x), instance.get_instance_hash())
    assert PINNED["float_tenth"] == other.get_instance_hash()


def test_an_annotation_still_makes_one_and_one_point_zero_one_value() -> None:
    assert PINNED["float_one"] == Annotated().get_instance(x=1).get_instance_hash()
    assert PINNED["int_one"] == ZeroX().get_instance(x=1).get_instance_hash()


def test_values_phyper_cannot_hash_are_still_refused() -> None:
    with pytest.raises(phyper.UnsupportedValueError, match="hyperparameter `x` got \\[1\\]"):
        ZeroX().get_instance(x=[1])
    with pytest.raises(phyper.HyperparameterValueError, match="NaN"):
        ZeroX().get_instance(x=float("nan"))


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.5", 0.5), ("3", 3), ("none", None), ("true", True), ("adam", "adam"), ("1e3", 1000.0)],
)
def test_a_non_key_override_reads_the_value_as_written(text: str, value: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYPER_NON_KEYS", f"limit={text}")
    instance = WithNonKey().get_instances_from_dictionary({"b": [1]})[0]

    assert (value, type(value)) == (instance.limit, type(instance.limit))
    assert PINNED["none_omitted"] == instance.get_instance_hash()  # {"b": 1}: a non-key is never hashed
