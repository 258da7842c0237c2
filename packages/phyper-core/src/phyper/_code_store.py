"""Which code made a result: the ``code`` field of completion records and the code store.

Each completion record a job writes holds its step's code fingerprint (see
`phyper._code`):

```text
"code": {"digest": "<sha256 of the step's code>", "packages": {"torch": "2.13.0"}}
```

and the code itself is kept once under the state folder, content-addressed:

* ``<state>/code/steps/<digest>.json``: the qualified name and digest of every
  function, method, class and value the step reached, the warnings, the packages;
* ``<state>/code/sources/<digest>.py``: each distinct normalised source, once.

A record whose digest differs from today's is not complete (``made by older code
(train.train changed)``); a record without the field (written before phyper tracked
code, or while a step had ``track_code=False``) counts as made by today's code, so
upgrading phyper never reruns a grid. Different package versions are only reported.

Today's code of a step is found from a record's path: every [`phyper.Pipeline`][phyper.Pipeline]
registers the record folder of each of its steps (``<state>/done/<step>``) when the
step is declared, so every check of a record (the runner's, ``phyper status``'s,
the engines') compares it the same way.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from phyper._formats import CODE_MANIFEST, DamagedStateFile, read_json_file, read_state_bytes
from phyper._fs import atomic_write_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from phyper._code import StepCode

__all__ = [
    "CODE_FOLDER",
    "OLDER_CODE",
    "CodeSummary",
    "accept_code",
    "code_changes",
    "code_field",
    "forget_today",
    "package_changes",
    "read_step_manifest",
    "register_step",
    "stored_source",
    "today_code",
]

CODE_FOLDER = "code"
"""Under the state folder: the code that made the results (``steps/``, ``sources/``)."""


@dataclass(frozen=True)
class _Tracked:
    state_folder: str
    step: str
    function: Callable[..., Any]
    track: bool


_STEPS: dict[str, _Tracked] = {}
"""Record folder (normalised) -> the step whose records live there, as declared last."""

_MANIFESTS: dict[tuple[str, str], dict[str, Any] | None] = {}


def register_step(state_folder: str, step: str, function: Callable[..., Any], *, track: bool) -> None:
    """Say which function's code the records of ``step`` under ``state_folder`` are compared with."""
    folder = os.path.normpath(os.path.join(state_folder, "done", step))
    _STEPS[folder] = _Tracked(state_folder, step, function, track)
    _BY_FOLDER.clear()
    _TODAY.clear()


_BY_FOLDER: dict[str, _Tracked | None] = {}
"""Record folder as written in records' paths -> its step (a memo of `_STEPS`)."""


def _tracked(record_path: str) -> _Tracked | None:
    folder = record_path[: record_path.rfind(os.sep) + 1]  # once per record checked: no normpath
    try:
        return _BY_FOLDER[folder]
    except KeyError:
        tracked = _BY_FOLDER[folder] = _STEPS.get(os.path.normpath(folder))
        return tracked


_TODAY: dict[str, tuple[str, dict[str, str]] | None] = {}
"""Record folder as in records' paths -> today's (digest, packages) of its step; None if untracked."""


def _today(record_path: str) -> tuple[str, dict[str, str]] | None:
    """Today's digest and packages for a record: a dictionary lookup once the step is known.

    Checked once per record by every tool, so a no-op run over 100,000 records pays
    microseconds, not a fingerprint, per record.
    """
    folder = record_path[: record_path.rfind(os.sep) + 1]
    try:
        return _TODAY[folder]
    except KeyError:
        code = today_code(record_path)
        found = _TODAY[folder] = None if code is None else (code.digest, code.packages)
        return found


def forget_today() -> None:
    """Forget today's digests looked up so far, and the fingerprints they came from."""
    from phyper._code import clear_code_cache  # fingerprints are computed only when asked for

    _TODAY.clear()
    clear_code_cache()


def today_code(record_path: str) -> StepCode | None:
    """Today's code of the step whose record is ``record_path``; None if not tracked."""
    tracked = _tracked(record_path)
    if tracked is None or not tracked.track:
        return None
    from phyper._code import step_code  # the analysis (ast, inspect) is loaded only when needed

    return step_code(tracked.function, tracked.step)


def code_field(state_folder: str, code: StepCode) -> dict[str, Any]:
    """Store ``code`` under the state folder and return the record's ``code`` field."""
    folder = os.path.join(state_folder, CODE_FOLDER)
    manifest = os.path.join(folder, "steps", code.digest + ".json")
    if not os.path.exists(manifest):
        for piece in code.pieces.values():
            source = os.path.join(folder, "sources", piece.digest + ".py")
            if not os.path.exists(source):
                atomic_write_text(source, piece.source + "\n")
        content = {"digest": code.digest, "functions": code.functions, "warnings": list(code.warnings)}
        atomic_write_text(manifest, json.dumps(content, indent=1, sort_keys=True) + "\n")
    return {"digest": code.digest, "packages": code.packages}


def read_step_manifest(state_folder: str, digest: str) -> dict[str, Any] | None:
    """The stored manifest of the code ``digest`` (functions -> digests), or None."""
    key = (state_folder, digest)
    if key not in _MANIFESTS:
        path = os.path.join(state_folder, CODE_FOLDER, "steps", os.path.basename(digest) + ".json")
        try:
            manifest: dict[str, Any] | None = read_json_file(path, CODE_MANIFEST)
        except (OSError, DamagedStateFile):
            # only the names of what changed are lost: the digests in the records decide
            manifest = None
        _MANIFESTS[key] = manifest
    return _MANIFESTS[key]


def stored_source(state_folder: str, digest: str) -> str | None:
    """The normalised source stored under ``digest``, or None."""
    path = os.path.join(state_folder, CODE_FOLDER, "sources", os.path.basename(digest) + ".py")
    try:
        return read_state_bytes(path).decode("utf-8")
    except (OSError, DamagedStateFile, UnicodeDecodeError):
        return None


def recorded_digest(record: dict[str, Any]) -> str | None:
    """The code digest a record holds, or None (an old record, or an untracked step)."""
    field = record.get("code")
    if isinstance(field, dict) and isinstance(field.get("digest"), str):
        return str(field["digest"])
    return None


def code_changes(record_path: str, record: dict[str, Any]) -> tuple[str, ...] | None:
    """None when ``record`` was made by today's code; else the names of what changed.

    The names are empty when the old code's manifest is gone (the state folder's
    ``code/`` removed): the code differs, what exactly is unknown.
    """
    field = record.get("code")
    if type(field) is not dict:
        return None  # a record of an older phyper, or of a step not tracked then: today's code
    recorded = field.get("digest")
    today = _today(record_path)
    if today is None or today[0] == recorded or not isinstance(recorded, str):
        return None
    tracked = _tracked(record_path)
    code = today_code(record_path)
    if tracked is None or code is None:
        return None
    manifest = read_step_manifest(tracked.state_folder, recorded)
    if manifest is None:
        return ()
    old: dict[str, str] = manifest["functions"]
    new = code.functions
    return tuple(sorted(name for name in {*old, *new} if old.get(name) != new.get(name)))


def older_code_reason(changes: tuple[str, ...]) -> str:
    """The verdict's reason for a record made by older code."""
    return f"{OLDER_CODE} ({', '.join(changes)} changed)" if changes else OLDER_CODE


def package_changes(record_path: str, record: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Distribution -> (recorded version, today's) for the packages whose version differs."""
    field = record.get("code")
    recorded = field.get("packages") if type(field) is dict else None
    if not recorded or type(recorded) is not dict:
        return {}
    today = _today(record_path)
    if today is None or today[1] == recorded:
        return {}
    current = today[1]
    return {
        name: (str(version), current.get(name))
        for name, version in sorted(recorded.items())
        if current.get(name) != version
    }


def accept_code(record_path: str, record: dict[str, Any]) -> bool:
    """Rewrite ``record`` as made by today's code (keeping the file's times); whether it changed.

    Only the ``code`` field changes; the caller decides that the job passes every
    other check.
    """
    tracked = _tracked(record_path)
    today = today_code(record_path)
    if tracked is None or today is None or recorded_digest(record) in (None, today.digest):
        return False
    info = os.stat(record_path)
    updated = {**record, "code": code_field(tracked.state_folder, today)}
    atomic_write_text(record_path, json.dumps(updated, indent=1, sort_keys=True) + "\n")
    # engines compare record times (Snakemake): the accepted record keeps its own
    os.utime(record_path, ns=(info.st_atime_ns, info.st_mtime_ns))
    return True


def code_verdict(record_path: str, record: dict[str, Any]) -> dict[str, Any]:
    """The code fields of a job's verdict (``code_changes``, ``package_changes``), where not default."""
    field = record.get("code")
    if type(field) is not dict:
        return {}
    today = _today(record_path)
    if today is None or (field.get("digest") == today[0] and field.get("packages") == today[1]):
        return {}  # the usual case, in a dictionary lookup and two comparisons
    fields: dict[str, Any] = {}
    changes = code_changes(record_path, record)
    if changes is not None:
        fields["code_changes"] = changes
    packages = package_changes(record_path, record)
    if packages:
        fields["package_changes"] = packages
    return fields


class _StepJob(Protocol):
    @property
    def step(self) -> str: ...


class CodeVerdict(Protocol):
    """What `CodeSummary.add` reads of a verdict (a [`phyper.JobVerdict`][phyper.JobVerdict], which imports this module)."""

    @property
    def job(self) -> _StepJob: ...

    @property
    def code_changes(self) -> tuple[str, ...] | None: ...

    @property
    def package_changes(self) -> dict[str, tuple[str, str | None]]: ...


class CodeSummary:
    """What ``phyper status`` says about code, gathered verdict by verdict.

    Per step: the jobs made by older code and what changed, the jobs made with other
    package versions, and what phyper cannot follow in the step's code.
    """

    def __init__(self) -> None:
        self.older: dict[str, Counter[tuple[str, ...]]] = {}
        self.packages: dict[str, Counter[tuple[str, str, str | None]]] = {}
        self.other_packages: Counter[str] = Counter()
        self.records: dict[str, str | None] = {}

    def add_step(self, step: str, record_path: str | None) -> None:
        """A step of the plan, with the path of one of its records (where today's code is found)."""
        self.records.setdefault(step, record_path)

    def add(self, verdict: CodeVerdict) -> None:
        """One job's verdict."""
        step = verdict.job.step
        if verdict.code_changes is not None:
            self.older.setdefault(step, Counter())[verdict.code_changes] += 1
        if verdict.package_changes:
            self.other_packages[step] += 1
            counter = self.packages.setdefault(step, Counter())
            for name, (old, new) in verdict.package_changes.items():
                counter[(name, old, new)] += 1

    def lines(self, verbose: bool = False) -> list[str]:
        """The lines ``phyper status`` prints after the counts."""
        lines: list[str] = []
        for step, groups in self.older.items():
            for changes, count in groups.items():
                what = f"{', '.join(changes)} changed" if changes else "its stored code is gone: what changed is unknown"
                lines.append(f"{step}: {count} job(s) made by older code ({what})")
        for step, counter in self.packages.items():
            listed = ", ".join(f"{name} {old} (now {new or 'not installed'})" for (name, old, new) in sorted(counter))
            lines.append(
                f"warning: {step}: {self.other_packages[step]} job(s) made with other package versions: "
                f"{listed}; packages never trigger a rerun"
            )
        for step, record in self.records.items():
            code = today_code(record) if record is not None else None
            if code is not None and code.warnings:
                lines.append(
                    f"warning: {step}: code phyper cannot follow ({len(code.warnings)}); changes there do not rerun it:"
                )
                shown = code.warnings if verbose else code.warnings[:3]
                lines.extend(f"  {warning}" for warning in shown)
                if len(shown) < len(code.warnings):
                    lines.append(f"  ... and {len(code.warnings) - len(shown)} more (phyper status -v lists them all)")
        return lines


OLDER_CODE = "made by older code"
"""How the reason of a job made by older code starts."""


def describe_code(record_path: str, record: dict[str, Any]) -> dict[str, Any]:
    """Which code made a result: its digest, whether it is today's, what changed, packages."""
    recorded = recorded_digest(record)
    field = record.get("code")
    packages = field.get("packages", {}) if isinstance(field, dict) else {}
    if recorded is None:
        return {"digest": None, "today": True, "changed": [], "packages": {}}
    changes = code_changes(record_path, record)
    return {
        "digest": recorded,
        "today": changes is None,
        "changed": list(changes or ()),
        "packages": packages if isinstance(packages, dict) else {},
    }


def code_diff(record_path: str, record: dict[str, Any]) -> list[str]:
    """A unified diff, piece by piece, from the code that made ``record`` to today's code.

    Sources are the stored normalised ones (``ast.unparse``: no comments, no docstrings).
    Empty when the record was made by today's code (or before code was tracked).
    """
    import difflib

    changes = code_changes(record_path, record)
    tracked = _tracked(record_path)
    today = today_code(record_path)
    recorded = recorded_digest(record)
    if not changes or tracked is None or today is None or recorded is None:
        return []
    manifest = read_step_manifest(tracked.state_folder, recorded) or {"functions": {}}
    old_digests: dict[str, str] = manifest["functions"]
    lines: list[str] = []
    for name in changes:
        old_digest = old_digests.get(name)
        old = (stored_source(tracked.state_folder, old_digest) or "") if old_digest else ""
        new = today.pieces[name].source + "\n" if name in today.pieces else ""
        lines += difflib.unified_diff(
            old.splitlines(),
            new.splitlines(),
            fromfile=f"{name} (made the result)" if old_digest else f"{name} (not reached then)",
            tofile=f"{name} (today)" if name in today.pieces else f"{name} (not reached today)",
            lineterm="",
        )
    return lines
