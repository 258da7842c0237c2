"""The hyperparameter model: keys and non-keys, types, normalisation, immutability.

This module uses ``from __future__ import annotations``, so every class annotation
below is a string that phyper has to evaluate (checked in the first annotation test).
"""

from __future__ import annotations

import copy
import math
import pickle
from typing import Any, Literal, Optional

import pytest

import phyper
from core_support import Instance, NonKeys


def test_attributes_of_plain_mixins_are_non_keys_and_of_parser_classes_keys() -> None:
    assert ["seed", "n_hidden_layers", "cv_k", "cv_fold", "transformation", "centering"] == Instance.key_names()
    assert ["n_epochs", "batch_size", "learning_rate", "log_interval"] == Instance.non_key_names()


class Extended(Instance):
    dropout = 0.0  # new in a Parser subclass: a key
    n_epochs = 10  # a non-key of the mixin with a new default: still a non-key


class MoreNonKeys(NonKeys):
    momentum = 0.9


class WithMoreNonKeys(phyper.Parser, MoreNonKeys):
    width = 8


def test_subclassing_an_instance_class_keeps_keys_keys_and_non_keys_non_keys() -> None:
    assert [*Instance.key_names(), "dropout"] == Extended.key_names()
    assert Instance.non_key_names() == Extended.non_key_names()
    assert (10, 2000) == (Extended.n_epochs, Instance.n_epochs)


def test_overriding_a_non_key_default_changes_no_hash() -> None:
    base = Instance().get_instance()
    extended = Extended().get_instance()
    assert 10 == extended.n_epochs
    assert base.get_instance_hash() != extended.get_instance_hash()  # dropout is a new key...
    no_dropout = phyper.hash_key_values({**base.get_key_values(), "dropout": 0.0})
    assert no_dropout == extended.get_instance_hash()  # ...and n_epochs is not in the hash


def test_a_mixin_of_a_mixin_gives_non_keys() -> None:
    assert (["width"], ["n_epochs", "batch_size", "learning_rate", "log_interval", "momentum"]) == (
        WithMoreNonKeys.key_names(),
        WithMoreNonKeys.non_key_names(),
    )


class Annotated(phyper.Parser):
    count: int = 1
    rate: float = 1  # an int default for a float: stored as 1.0
    flag: bool = False
    name: str = "a"
    mode: Literal["fast", "slow"] = "fast"
    limit: Optional[int] = None
    ceiling: float | None = None


def test_string_annotations_are_evaluated() -> None:
    assert "Literal['fast', 'slow']" == Annotated.__annotations__["mode"]  # really strings here
    parser = Annotated()
    instance = parser.get_instance(count=2, rate=3, flag=True, name="b", mode="slow", limit=4, ceiling=5)
    assert [(int, 2), (float, 3.0), (bool, True), (str, "b"), (str, "slow"), (int, 4), (float, 5.0)] == [
        (type(value), value) for value in instance.to_dict().values()
    ]


@pytest.mark.parametrize(
    ("name", "bad"),
    [("count", 1.5), ("count", "1"), ("rate", "1.0"), ("flag", 1), ("name", 1), ("limit", 2.0), ("ceiling", "x")],
)
def test_annotations_refuse_values_of_other_types(name: str, bad: object) -> None:
    with pytest.raises(phyper.HyperparameterTypeError):
        Annotated().get_instance(**{name: bad})


def test_literal_refuses_values_outside_it() -> None:
    with pytest.raises(phyper.HyperparameterValueError):
        Annotated().get_instance(mode="medium")


def test_optional_accepts_none_and_its_type() -> None:
    instance = Annotated().get_instance(limit=None, ceiling=2)
    assert (None, 2.0) == (instance.limit, instance.ceiling)
    assert float is type(instance.ceiling)


def test_annotations_given_as_objects_are_honoured_too() -> None:
    # a class made without the __future__ import: the annotations are real types
    Real: Any = type("Real", (phyper.Parser,), {"__annotations__": {"rate": float, "mode": Literal["a", "b"]},
                                           "rate": 2, "mode": "a"})
    assert (float, 2.0) == (type(Real.rate), Real.rate)
    with pytest.raises(phyper.HyperparameterValueError):
        Real().get_instance(mode="c")


def test_types_are_inferred_from_defaults() -> None:
    parser = Instance()
    inferred = parser.get_instance(learning_rate=1, seed=7, centering=True, transformation="log")
    assert [(float, 1.0), (int, 7), (bool, True), (str, "log")] == [
        (type(value), value)
        for value in (inferred.learning_rate, inferred.seed, inferred.centering, inferred.transformation)
    ]
    for name, wrong in [("seed", 7.0), ("centering", 1), ("transformation", 3), ("learning_rate", "0.1")]:
        with pytest.raises(phyper.HyperparameterTypeError):
            parser.get_instance(**{name: wrong})


def test_true_for_an_int_hyperparameter_is_an_error() -> None:
    with pytest.raises(phyper.HyperparameterTypeError) as caught:
        Instance().get_instance(n_hidden_layers=True)
    assert isinstance(caught.value, TypeError)
    assert "`n_hidden_layers`" in str(caught.value)


def test_minus_zero_becomes_zero() -> None:
    value = Instance().get_instance(learning_rate=-0.0).learning_rate
    assert (0.0, 1.0) == (value, math.copysign(1.0, value))


def test_strings_become_nfc() -> None:
    assert "caf\u00e9" == Instance().get_instance(transformation="cafe\u0301").transformation


def test_str_enum_members_give_their_value_not_their_name() -> None:
    import enum

    class Choice(str, enum.Enum):
        LOG = "log"

    instance = Instance().get_instance(transformation=Choice.LOG)
    assert (str, "log") == (type(instance.transformation), instance.transformation)


def test_a_literal_picks_the_option_of_the_value_own_type() -> None:
    Numbers = type("Numbers", (phyper.Parser,), {"__annotations__": {"x": Literal[1.0, 1]}, "x": 1.0})
    picked = [Numbers().get_instance(x=value).x for value in (1, 1.0)]
    assert [(int, 1), (float, 1.0)] == [(type(value), value) for value in picked]


def test_a_huge_int_for_a_float_is_a_phyper_error() -> None:
    with pytest.raises(phyper.HyperparameterValueError):
        Instance().get_instance(learning_rate=10**400)


def test_instance_attributes_give_values_and_class_attributes_give_defaults(instances: list[Instance]) -> None:
    last = instances[-1]
    assert ("square", False, 3, 4) == (last.transformation, last.centering, last.n_hidden_layers, last.cv_fold)
    assert ("identity", False, 3, 0, 2000) == (
        Instance.transformation, Instance.centering, Instance.n_hidden_layers, Instance.cv_fold, Instance.n_epochs,
    )


def test_instances_are_immutable(instances: list[Instance]) -> None:
    instance = instances[0]
    before = instance.get_instance_hash()
    with pytest.raises(phyper.FrozenInstanceError):
        instance.seed = 3  # type: ignore[misc]
    with pytest.raises(phyper.FrozenInstanceError):
        instance.anything = 3  # type: ignore[attr-defined]
    assert (0, before) == (instance.seed, instance.get_instance_hash())


def test_replace_gives_a_new_instance_and_leaves_the_old_one(instances: list[Instance]) -> None:
    instance = instances[0]
    changed = instance.replace(seed=5)
    assert (0, 5) == (instance.seed, changed.seed)
    assert instance.get_instance_hash() != changed.get_instance_hash()
    assert instance.get_instance_hash("transformed_data") == changed.get_instance_hash("transformed_data")


def test_equal_values_make_equal_instances_and_types_matter() -> None:
    parser = Instance()
    assert parser.get_instance(seed=1) == parser.get_instance(seed=1)
    assert 2 == len({parser.get_instance(seed=1), parser.get_instance(seed=1), parser.get_instance(seed=2)})
    OneOrTrue = type("OneOrTrue", (phyper.Parser,), {"__annotations__": {"x": Literal[1, True]}, "x": 1})
    one, true = OneOrTrue().get_instance(x=1), OneOrTrue().get_instance(x=True)
    assert one != true
    assert 2 == len({one, true})


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy, lambda x: pickle.loads(pickle.dumps(x))],
                         ids=["copy", "deepcopy", "pickle"])
def test_instances_survive_copy_and_pickle(instances: list[Instance], duplicate: object) -> None:
    instance = instances[7]
    twin = duplicate(instance)  # type: ignore[operator]
    assert instance == twin
    assert [instance.get_instance_hash(r) for r in (None, "cross_validated_model")] == [
        twin.get_instance_hash(r) for r in (None, "cross_validated_model")
    ]
    assert instance.get_resources_path("preprocessed_data") == twin.get_resources_path("preprocessed_data")


def test_a_pickled_list_of_instances_keeps_one_shared_parser_state(instances: list[Instance]) -> None:
    copies = pickle.loads(pickle.dumps(instances))
    assert [i.get_instance_hash("preprocessed_data") for i in instances] == [
        i.get_instance_hash("preprocessed_data") for i in copies
    ]
    assert copies[0]._phyper_shared is copies[-1]._phyper_shared


def test_a_deep_copy_of_the_parser_registers_resources_of_its_own(parser: Instance) -> None:
    twin = copy.deepcopy(parser)
    twin.register_new_resource("seeded", ["seed"])
    assert (["transformed_data", "preprocessed_data", "cross_validated_model"], "seeded") == (
        list(parser.resources), list(twin.resources)[-1]
    )
    assert parser.get_instance().get_instance_hash("preprocessed_data") == (
        twin.get_instance().get_instance_hash("preprocessed_data")
    )
