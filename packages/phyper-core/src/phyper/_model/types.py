"""Hyperparameter value types: validation and normalisation of values.

A hyperparameter's type comes from its annotation (``int``, ``float``, ``bool``,
``str``, ``Literal[...]``, ``Optional[...]``) or, without one, from its default (a
``None`` default without one takes any scalar, as in phyper 0.x).
Every value is normalised to that type before it is stored or hashed, so that one
value always has one representation: ``1`` given to a float becomes ``1.0``,
``numpy.int64(3)`` becomes ``3``, ``-0.0`` becomes ``0.0``, strings become NFC.
"""

from __future__ import annotations

import math
import operator
import types
import typing
import unicodedata
from typing import Any

from phyper._errors import (
    HyperparameterDefinitionError,
    HyperparameterTypeError,
    HyperparameterValueError,
    NonKeyOverrideError,
    UnsupportedValueError,
)

__all__ = ["AnyScalarType", "ValueType", "type_from_annotation", "type_from_default"]

_SCALARS: tuple[type, ...] = (bool, int, float, str)


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy"


def _describe_value(value: Any) -> str:
    return f"{value!r} (a {type(value).__name__})"


def _check_supported(name: str, value: Any) -> None:
    """Refuse values whose type phyper can never hash, whatever the declared type."""
    if value is None or isinstance(value, _SCALARS):
        return
    if _is_numpy(value) and getattr(value, "ndim", None) == 0:
        return
    raise UnsupportedValueError(
        f"hyperparameter `{name}` got {_describe_value(value)}: only bool, int, float, "
        "str and None values can be hashed stably; encode it as one of those "
        "(for example a string naming the choice)"
    )


class ValueType:
    """The type of one hyperparameter: normalises values and parses strings."""

    def normalize(self, name: str, value: Any) -> Any:
        """Return ``value`` converted to this type, or raise a phyper error naming ``name``."""
        raise NotImplementedError

    def parse(self, name: str, text: str) -> Any:
        """Return the value written as ``text`` (used by run-time overrides)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human description, e.g. ``int`` or ``one of 'a', 'b'``."""
        raise NotImplementedError

    def python_types(self) -> frozenset[type]:
        """The Python types a normalised value can have, besides ``NoneType``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<phyper type {self.describe()}>"


class ScalarType(ValueType):
    """``bool``, ``int``, ``float`` or ``str``."""

    def __init__(self, python_type: type) -> None:
        self.python_type = python_type

    def describe(self) -> str:
        return self.python_type.__name__

    def python_types(self) -> frozenset[type]:
        return frozenset([self.python_type])

    def _type_error(self, name: str, value: Any, hint: str = "") -> HyperparameterTypeError:
        return HyperparameterTypeError(
            f"hyperparameter `{name}` is {self.describe()} but got {_describe_value(value)}"
            + (f"; {hint}" if hint else "")
        )

    def normalize(self, name: str, value: Any) -> Any:
        _check_supported(name, value)
        kind = self.python_type
        numpy_bool = _is_numpy(value) and type(value).__name__.startswith("bool")
        if kind is bool:
            if isinstance(value, bool) or numpy_bool:
                return bool(value)
            raise self._type_error(name, value, "write True or False")
        if isinstance(value, bool) or numpy_bool:
            raise self._type_error(name, value, f"booleans are not {kind.__name__}s")
        if kind is int:
            if isinstance(value, int):
                return int(value)
            if _is_numpy(value) and hasattr(value, "__index__"):
                return operator.index(value)
            hint = f"write {int(value)}" if isinstance(value, float) and value.is_integer() else ""
            raise self._type_error(name, value, hint)
        if kind is float:
            if isinstance(value, int) or (_is_numpy(value) and hasattr(value, "__index__")):
                try:
                    as_float = float(value)
                except OverflowError:
                    as_float = math.inf
                if as_float != int(value):
                    raise HyperparameterValueError(
                        f"hyperparameter `{name}` is float but {value!r} cannot be "
                        "represented exactly as a float"
                    )
                return as_float + 0.0
            if isinstance(value, float) or (_is_numpy(value) and hasattr(value, "is_integer")):
                as_float = float(value)
                if math.isnan(as_float):
                    raise HyperparameterValueError(
                        f"hyperparameter `{name}` got NaN, which equals nothing and cannot "
                        "name a folder; use None (declare Optional[float]) for 'no value'"
                    )
                # -0.0 + 0.0 == 0.0: one representation for zero
                return as_float + 0.0
            raise self._type_error(name, value)
        if isinstance(value, str):
            # str.__str__, not str(): str() of a `class E(str, Enum)` member is "E.A"
            return unicodedata.normalize("NFC", str.__str__(value))
        raise self._type_error(name, value)

    def parse(self, name: str, text: str) -> Any:
        kind = self.python_type
        if kind is str:
            return self.normalize(name, text)
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise NonKeyOverrideError(f"`{name}={text}`: write true or false")
        try:
            return self.normalize(name, kind(text.strip()))
        except ValueError as error:
            if isinstance(error, HyperparameterValueError):
                raise
            raise NonKeyOverrideError(
                f"`{name}={text}`: {text!r} is not a valid {kind.__name__}"
            ) from None


class LiteralType(ValueType):
    """``Literal[...]``: one of a fixed set of scalar values."""

    def __init__(self, options: tuple[Any, ...]) -> None:
        for option in options:
            if option is not None and not isinstance(option, _SCALARS):
                raise HyperparameterDefinitionError(
                    f"Literal option {option!r} is not a bool, int, float, str or None"
                )
        self.options = options

    def describe(self) -> str:
        return "one of " + ", ".join(repr(option) for option in self.options)

    def python_types(self) -> frozenset[type]:
        return frozenset(type(option) for option in self.options if option is not None)

    def _match(self, name: str, value: Any) -> Any:
        # an option of the value's own type wins: 1 is the option 1 of Literal[1.0, 1], not 1.0
        for option in self.options:
            if type(option) is type(value) and option == value:
                return option
        for option in self.options:
            if option is None:
                if value is None:
                    return None
                continue
            try:
                candidate = ScalarType(type(option)).normalize(name, value)
            except (HyperparameterTypeError, HyperparameterValueError):
                continue
            if candidate == option:
                return option
        raise HyperparameterValueError(
            f"hyperparameter `{name}` must be {self.describe()}, got {_describe_value(value)}"
        )

    def normalize(self, name: str, value: Any) -> Any:
        _check_supported(name, value)
        return self._match(name, value)

    def parse(self, name: str, text: str) -> Any:
        for option in self.options:
            if option is None and text.strip().lower() == "none":
                return None
            if option is not None and str(option) == text:
                return option
        raise NonKeyOverrideError(f"`{name}={text}`: must be {self.describe()}")


class OptionalType(ValueType):
    """``Optional[X]``: ``None`` or a value of ``X``."""

    def __init__(self, inner: ValueType) -> None:
        self.inner = inner

    def describe(self) -> str:
        return f"{self.inner.describe()} or None"

    def python_types(self) -> frozenset[type]:
        return self.inner.python_types()

    def normalize(self, name: str, value: Any) -> Any:
        return None if value is None else self.inner.normalize(name, value)

    def parse(self, name: str, text: str) -> Any:
        return None if text.strip().lower() == "none" else self.inner.parse(name, text)


class AnyScalarType(ValueType):
    """An unannotated ``None`` default (phyper 0.x's ``ehi = None``): None or any scalar.

    Each value keeps its own type (``bool``, ``int``, ``float`` or ``str``) and is
    normalised as that type, so ``1`` and ``1.0`` stay two values, as they would be
    under ``Literal[1, 1.0]``; an annotation (``Optional[float]``) makes them one.
    """

    def describe(self) -> str:
        return "any bool, int, float or str, or None"

    def python_types(self) -> frozenset[type]:
        return frozenset(_SCALARS)

    def normalize(self, name: str, value: Any) -> Any:
        _check_supported(name, value)
        if value is None:
            return None
        if _is_numpy(value):
            value = value.item()
        kind = next(kind for kind in _SCALARS if isinstance(value, kind))  # bool before int
        return ScalarType(kind).normalize(name, value)

    def parse(self, name: str, text: str) -> Any:
        stripped = text.strip()
        lowered = stripped.lower()
        if lowered == "none":
            return None
        if lowered in ("true", "false"):
            return lowered == "true"
        for kind in (int, float):
            try:
                return self.normalize(name, kind(stripped))
            except ValueError as error:
                if isinstance(error, HyperparameterValueError):
                    raise
        return self.normalize(name, text)


def type_from_default(name: str, default: Any) -> ValueType:
    """The type of an unannotated hyperparameter: the type of its default.

    A ``None`` default without an annotation (as phyper 0.x allowed) takes any scalar
    or None (`AnyScalarType`).
    """
    _check_default_supported(name, default)
    if default is None:
        return AnyScalarType()
    if _is_numpy(default):
        default = default.item()
    return ScalarType(type(default))


def _check_default_supported(name: str, default: Any) -> None:
    try:
        _check_supported(name, default)
    except UnsupportedValueError as error:
        raise HyperparameterDefinitionError(str(error)) from None


def type_from_annotation(name: str, annotation: Any) -> ValueType:
    """Translate a type annotation into a `ValueType`."""
    if annotation in _SCALARS:
        return ScalarType(annotation)
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Literal:
        return LiteralType(tuple(arguments))
    if origin in (typing.Union, types.UnionType):
        others = [argument for argument in arguments if argument is not type(None)]
        if len(others) == 1 and len(others) < len(arguments):
            return OptionalType(type_from_annotation(name, others[0]))
    raise HyperparameterDefinitionError(
        f"hyperparameter `{name}` is annotated {annotation!r}; phyper supports int, float, "
        "bool, str, Literal[...] and Optional[...] of those"
    )
