"""Printing for the command line: a command's `Output`, tables, sizes, JSON, progress.

What ``--json`` prints is a contract with users' scripts: each command returns a
declared result, a frozen dataclass deriving from `JsonObject` (or any object with
a ``to_json()``), whose fields are the JSON's keys; `docs/cli.md` writes each
command's schema and the tests hold every command's real output to it. A renamed
field is then a visible change of the contract, not an accident of an internal object.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Protocol

__all__ = [
    "JsonObject", "JsonResult", "Output", "Progress", "format_values", "human_size", "json_value", "print_json",
    "render", "table",
]


class JsonResult(Protocol):
    """What a command's ``--json`` prints: ``to_json()`` gives the document (plain JSON values)."""

    def to_json(self) -> Any:
        """The JSON document (dicts, lists, strings, numbers, booleans, None)."""
        ...


def json_value(value: Any) -> Any:
    """``value`` as plain JSON values: results by their ``to_json()``, containers item by item."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    return value


class JsonObject:
    """A declared ``--json`` result: a dataclass whose fields are the JSON object's keys.

    A field whose key is no Python name (``from``) gives it as ``metadata={"json": "from"}``.
    """

    def to_json(self) -> dict[str, Any]:
        """The fields, in order, as a JSON object."""
        assert is_dataclass(self), f"{type(self).__name__} must be a dataclass"
        return {item.metadata.get("json", item.name): json_value(getattr(self, item.name)) for item in fields(self)}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lines of a plain text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) if column == 0 else cell.rjust(width) for column, (cell, width) in enumerate(zip(row, widths))).rstrip()
        for row in cells
    ]


def human_size(size: int) -> str:
    """``1536`` -> ``1.5 kB`` (powers of 1000, as ``du --si``)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _finite(data: Any) -> Any:
    """``data`` with NaN and infinities as None: JSON has no such numbers (a metric may be NaN)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(value) for value in data]
    return data


def print_json(data: Any) -> None:
    """Stable JSON for scripts: sorted keys, one document on stdout (NaN and infinities as null)."""
    json.dump(_finite(data), sys.stdout, indent=1, sort_keys=True, default=str, allow_nan=False)
    print()


class Progress:
    """``label: n`` on stderr, rewritten in place, only when stderr is a terminal.

    Scans of thousands of folders take seconds; a script reading stdout (or a log)
    must not get these lines, so nothing is written unless stderr is a TTY.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0
        self.enabled = sys.stderr.isatty()
        self._shown = False
        self._last = time.monotonic()

    def tick(self) -> None:
        """One more item scanned."""
        self.count += 1
        if self.enabled and self.count % 100 == 0:
            now = time.monotonic()
            # the first hundred shows at once; then at most five updates a second
            if not self._shown or now - self._last >= 0.2:
                self._last = now
                self._shown = True
                sys.stderr.write(f"\r{self.label}: {self.count}")
                sys.stderr.flush()

    def done(self) -> None:
        """Erase the progress line, if one was shown."""
        if self._shown:
            sys.stderr.write("\r" + " " * (len(self.label) + 12) + "\r")
            sys.stderr.flush()
            self._shown = False


@dataclass(frozen=True)
class Output:
    """What a command computed: printed by `render`, as JSON or as text.

    Attributes:
        data: what ``--json`` prints, a declared result (``None``: the command has no JSON form).
        lines: the text printed on stdout otherwise.
        problems: text printed on stderr after ``lines`` (not in JSON mode: the
            JSON holds them).
        status: the exit status.
    """

    data: JsonResult | None = None
    lines: Sequence[str] = ()
    problems: Sequence[str] = ()
    status: int = 0


def render(output: Output, as_json: bool) -> int:
    """Print a command's output and return its exit status (the one place commands print)."""
    if as_json and output.data is not None:
        print_json(json_value(output.data))
        return output.status
    for line in output.lines:
        print(line)
    for line in output.problems:
        print(line, file=sys.stderr)
    return output.status


def format_values(values: dict[str, Any]) -> str:
    """``a=1, b='x'``, or ``(none)``."""
    return ", ".join(f"{name}={value!r}" for name, value in values.items()) or "(none)"
