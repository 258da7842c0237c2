"""Each user mistake raises its own phyper error (also the matching builtin), naming the
culprit and the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pytest

import phyper
from core_support import GRID, Instance


def raised(action: Callable[[], Any]) -> BaseException:
    with pytest.raises(phyper.PhyperError) as caught:
        action()
    return caught.value


def check(error: BaseException, phyper_class: type[Exception], builtin: type[Exception], *fragments: str) -> None:
    assert (phyper_class, True, True) == (
        type(error), isinstance(error, phyper.PhyperError), isinstance(error, builtin)
    )
    message = str(error)
    assert [] == [fragment for fragment in fragments if fragment not in message], message


def test_unknown_hyperparameter_in_the_grid_suggests_the_right_name(parser: Instance) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({**GRID, "n_hiden_layers": [1, 2]}))
    check(error, phyper.UnknownHyperparameterError, LookupError,
          "`n_hiden_layers`", "did you mean `n_hidden_layers`?")


def test_grid_value_that_is_not_a_list(parser: Instance) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({"seed": 3}))
    check(error, phyper.GridValueError, ValueError, "`seed`", "must be a list", "'seed': [3]")


def test_grid_value_that_is_an_empty_list(parser: Instance) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({"seed": []}))
    check(error, phyper.GridValueError, ValueError, "`seed`", "empty list", "list at least one value")


def test_grid_value_that_is_a_set(parser: Instance) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({"seed": {1, 2}}))
    check(error, phyper.GridValueError, ValueError, "`seed`", "a set has no order", "use a sorted list")


def test_grid_value_of_the_wrong_type(parser: Instance) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({"n_hidden_layers": [1, "three"]}))
    check(error, phyper.HyperparameterTypeError, TypeError, "`n_hidden_layers`", "is int", "'three' (a str)")


def test_float_for_an_int_suggests_the_int(parser: Instance) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({"n_hidden_layers": [2.0]}))
    check(error, phyper.HyperparameterTypeError, TypeError, "`n_hidden_layers`", "write 2")


def test_true_for_an_int(parser: Instance) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({"cv_fold": [True]}))
    check(error, phyper.HyperparameterTypeError, TypeError, "`cv_fold`", "booleans are not ints")


class Typed(phyper.Parser):
    transformation: Literal["identity", "log", "square"] = "identity"
    rate = 0.5


def test_value_outside_a_literal() -> None:
    error = raised(lambda: Typed().get_instances_from_dictionary({"transformation": ["log", "cube"]}))
    check(error, phyper.HyperparameterValueError, ValueError,
          "`transformation`", "'cube'", "one of 'identity', 'log', 'square'")


@pytest.mark.parametrize("value", [{1, 2}, object(), [1, 2], (1, 2), {"a": 1}, b"1"],
                         ids=["set", "object", "list", "tuple", "dict", "bytes"])
def test_unsupported_value_types(parser: Instance, value: Any) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({"seed": [value]}))
    check(error, phyper.UnsupportedValueError, TypeError,
          "`seed`", type(value).__name__, "only bool, int, float, str and None", "encode it as one of those")


def test_nan() -> None:
    error = raised(lambda: Typed().get_instances_from_dictionary({"rate": [0.1, float("nan")]}))
    check(error, phyper.HyperparameterValueError, ValueError, "`rate`", "NaN", "use None (declare Optional[float])")


def test_resource_naming_an_unknown_hyperparameter(parser: Instance) -> None:
    error = raised(lambda: parser.register_new_resource("scaled", ["transformaton"]))
    check(error, phyper.UnknownHyperparameterError, LookupError,
          "resource `scaled`", "`transformaton`", "did you mean `transformation`?")


def test_resource_naming_a_non_key(parser: Instance) -> None:
    error = raised(lambda: parser.register_new_resource("trained", ["transformation", "n_epochs"]))
    check(error, phyper.ParserUsageError, TypeError,
          "resource `trained`", "`n_epochs`", "non-key", "declare it in the Parser subclass")


def test_resource_registered_twice(parser: Instance) -> None:
    error = raised(lambda: parser.register_new_resource("transformed_data", ["centering"]))
    check(error, phyper.DuplicateResourceError, ValueError,
          "`transformed_data`", "already registered", "['transformation']", "register each resource once")


def test_instances_differing_only_in_non_keys(parser: Instance) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({**GRID, "n_epochs": [100, 200]}))
    check(error, phyper.DuplicateInstanceError, ValueError,
          "`n_epochs`", "non-key", "share one hash", "make `n_epochs` a key")


@pytest.mark.parametrize(("name", "values", "shown"), [("seed", [1, 2, 1], "`seed` = 1"),
                                                       ("learning_rate", [1, 1.0], "`learning_rate` = 1.0")])
def test_duplicate_value_in_a_grid_list(parser: Instance, name: str, values: list[Any], shown: str) -> None:
    error = raised(lambda: parser.get_instances_from_dictionary({name: values}))
    check(error, phyper.DuplicateInstanceError, ValueError, shown, "twice", "list each value once")


def test_unknown_hash_names_the_resource(instances: phyper.InstanceList[Instance]) -> None:
    unknown = "0" * 32
    error = raised(lambda: Instance.get_instance_from_hash(unknown, instances, resource_name="preprocessed_data"))
    check(error, phyper.UnknownHashError, LookupError,
          "resource `preprocessed_data`", unknown, "among 6 distinct hashes", "check the resource name")


def test_unknown_full_hash(instances: phyper.InstanceList[Instance]) -> None:
    error = raised(lambda: Instance.get_instance_from_hash("f" * 32, instances))
    check(error, phyper.UnknownHashError, LookupError, "full instance (resource_name=None)", "f" * 32)


def test_malformed_hash(instances: phyper.InstanceList[Instance]) -> None:
    error = raised(lambda: Instance.get_instance_from_hash("derived_data/all/123", instances))
    check(error, phyper.UnknownHashError, LookupError, "`derived_data/all/123`", "not even a 32-hex-digit hash")


@pytest.mark.parametrize("method", ["get_instance_hash", "get_resources_path"])
def test_parser_used_as_an_instance(parser: Instance, method: str) -> None:
    error = raised(lambda: getattr(parser, method)())
    check(error, phyper.ParserUsageError, TypeError,
          f"{method}()", "on the parser", "parser.get_instances_from_dictionary()")


def test_instance_used_as_a_parser(instances: phyper.InstanceList[Instance]) -> None:
    error = raised(lambda: instances[0].register_new_resource("other", ["seed"]))
    check(error, phyper.ParserUsageError, TypeError,
          "register_new_resource()", "parser operation", "Instance(hashed_resources_folder=...)")


def test_unknown_resource_name_suggests_the_right_one(instances: phyper.InstanceList[Instance]) -> None:
    error = raised(lambda: instances[0].get_resources_path("preprocesed_data"))
    check(error, phyper.UnknownResourceError, LookupError,
          "`preprocesed_data`", "did you mean `preprocessed_data`?", "register_new_resource()")


def test_annotation_without_default() -> None:
    def define() -> None:
        class Missing(phyper.Parser):
            width: int

    error = raised(define)
    check(error, phyper.HyperparameterDefinitionError, TypeError, "`width`", "no default", "width: int = ...")


@pytest.mark.parametrize("default", [[1, 2], {1, 2}, {"a": 1}, (1, 2)], ids=["list", "set", "dict", "tuple"])
def test_unsupported_default_type(default: Any) -> None:
    error = raised(lambda: type("Bad", (phyper.Parser,), {"widths": default}))
    check(error, phyper.HyperparameterDefinitionError, TypeError,
          "`widths`", type(default).__name__, "only bool, int, float, str and None")


# a None default without an annotation is accepted (phyper 0.x's `ehi = None`): test_unannotated_none.py


@pytest.mark.parametrize("name", ["replace", "resources", "get_instance_hash"])
def test_reserved_name(name: str) -> None:
    error = raised(lambda: type("Bad", (phyper.Parser,), {name: 3}))
    check(error, phyper.HyperparameterDefinitionError, TypeError,
          f"`{name}`", "cannot be a hyperparameter", "rename it")


def test_setting_an_attribute(instances: phyper.InstanceList[Instance]) -> None:
    def assign() -> None:
        instances[0].seed = 4  # type: ignore[misc]

    check(raised(assign), phyper.FrozenInstanceError, AttributeError, "`seed`", "immutable", "replace(")


def test_non_key_override_that_does_not_parse(parser: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(phyper.NON_KEYS_ENVIRONMENT_VARIABLE, "n_epochs=many")
    error = raised(lambda: parser.get_instances_from_dictionary(GRID))
    check(error, phyper.NonKeyOverrideError, ValueError, "`n_epochs=many`", "not a valid int")
