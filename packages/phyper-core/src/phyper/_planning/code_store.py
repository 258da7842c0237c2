"""Which code made a result: the ``code`` field of completion records and the code store.

Each completion record a job writes holds its step's code fingerprint (see
`phyper._planning.code`):

```json
"code": {"digest": "<sha256 of the step's code>", "packages": {"torch": "2.13.0"}}
```

and the code itself is kept once under the state folder, content-addressed:

* a manifest per distinct code: the qualified name and digest of every function,
  method, class and value the step reached, the warnings, the packages;
* each distinct normalised source, once

(where: `phyper._state.store.StateStore.code_manifest_path`).

A record whose digest differs from today's is not complete (``made by older code
(train.train changed)``); a record without the field (written before phyper tracked
code, or while a step had ``track_code=False``) counts as made by today's code, so
upgrading phyper never reruns a grid. Different package versions are only reported.

Today's code of a step is what its pipeline declared: each `phyper.Pipeline`
holds a `StepCodes` (the functions of its steps, and the fingerprints and stored
manifests looked up so far), which its plans carry to every check of a record (the
runner's, ``phyper status``'s, the engines'). Two pipelines on one state folder in one
process each compare with their own code.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from phyper._fs import atomic_write_text
from phyper._state.formats import CODE_MANIFEST, DamagedStateFile, read_json_file, read_state_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

    from phyper._planning.code import StepCode
    from phyper._state.formats import CompletionRecord
    from phyper._state.store import StateStore

__all__ = ["CodeSummary", "StepCodes", "recorded_digest"]


@dataclass(frozen=True)
class _Tracked:
    function: Callable[..., Any]
    track: bool


def recorded_digest(record: CompletionRecord) -> str | None:
    """The code digest a record holds, or None (an old record, or an untracked step)."""
    return record.code.digest if record.code is not None else None


class StepCodes:
    """The code each step of one pipeline is expected to have, and what the store holds of older code.

    Fingerprints are computed when first asked for (once per step for this object's
    life); a long-lived process that edits code makes a new pipeline to see it.

    Args:
        state: the state folder whose code store holds the code of past results.
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._steps: dict[str, _Tracked] = {}
        self._today: dict[str, StepCode | None] = {}
        self._manifests: dict[str, dict[str, Any] | None] = {}

    def add(self, step: str, function: Callable[..., Any], *, track: bool) -> None:
        """Say which function's code the records of ``step`` are compared with (plain data: nothing computed)."""
        self._steps[step] = _Tracked(function, track)
        self._today.pop(step, None)

    def today(self, step: str) -> StepCode | None:
        """Today's code of ``step``; None if it is not tracked."""
        try:
            return self._today[step]
        except KeyError:
            pass
        tracked = self._steps.get(step)
        code = None
        if tracked is not None and tracked.track:
            from phyper._planning.code import step_code  # the analysis (ast, inspect) is loaded only when needed

            code = step_code(tracked.function, step)
        self._today[step] = code
        return code

    def field(self, code: StepCode) -> dict[str, Any]:
        """Store ``code`` in the code store and return a record's ``code`` field."""
        manifest = self.state.code_manifest_path(code.digest)
        if not os.path.exists(manifest):
            for piece in code.pieces.values():
                source = self.state.code_source_path(piece.digest)
                if not os.path.exists(source):
                    atomic_write_text(source, piece.source + "\n")
            content = {"digest": code.digest, "functions": code.functions, "warnings": list(code.warnings)}
            atomic_write_text(manifest, json.dumps(content, indent=1, sort_keys=True) + "\n")
        return {"digest": code.digest, "packages": code.packages}

    def today_field(self, step: str) -> dict[str, Any] | None:
        """The ``code`` field a record of ``step`` written now holds (stored first); None if untracked."""
        code = self.today(step)
        return None if code is None else self.field(code)

    def manifest(self, digest: str) -> dict[str, Any] | None:
        """The stored manifest of the code ``digest`` (functions -> digests), or None."""
        if digest not in self._manifests:
            try:
                manifest: dict[str, Any] | None = read_json_file(self.state.code_manifest_path(digest), CODE_MANIFEST)
            except (OSError, DamagedStateFile):
                # only the names of what changed are lost: the digests in the records decide
                manifest = None
            self._manifests[digest] = manifest
        return self._manifests[digest]

    def source(self, digest: str) -> str | None:
        """The normalised source stored under ``digest``, or None."""
        try:
            return read_state_bytes(self.state.code_source_path(digest)).decode("utf-8")
        except (OSError, DamagedStateFile, UnicodeDecodeError):
            return None

    def changes(self, step: str, record: CompletionRecord) -> tuple[str, ...] | None:
        """None when ``record`` (of ``step``) was made by today's code; else the names of what changed.

        The names are empty when the old code's manifest is gone (the state folder's
        code store removed): the code differs, what exactly is unknown.
        """
        if record.code is None:
            return None  # a record of an older phyper, or of a step not tracked then: today's code
        recorded = record.code.digest
        code = self.today(step)
        if code is None or recorded is None or code.digest == recorded:
            return None
        manifest = self.manifest(recorded)
        if manifest is None:
            return ()
        old: dict[str, str] = manifest["functions"]
        new = code.functions
        return tuple(sorted(name for name in {*old, *new} if old.get(name) != new.get(name)))

    def package_changes(self, step: str, record: CompletionRecord) -> dict[str, tuple[str, str | None]]:
        """Distribution -> (recorded version, today's) for the packages whose version differs."""
        recorded = record.code.packages if record.code is not None else None
        if not recorded:
            return {}
        code = self.today(step)
        if code is None or code.packages == recorded:
            return {}
        current = code.packages
        return {
            name: (str(version), current.get(name))
            for name, version in sorted(recorded.items())
            if current.get(name) != version
        }

    def verdict_fields(self, step: str, record: CompletionRecord) -> dict[str, Any]:
        """The code fields of a job's verdict (``code_changes``, ``package_changes``), where not default."""
        field = record.code
        if field is None:
            return {}
        code = self.today(step)
        if code is None or (field.digest == code.digest and field.packages == code.packages):
            return {}  # the usual case, in a dictionary lookup and two comparisons
        fields: dict[str, Any] = {}
        changes = self.changes(step, record)
        if changes is not None:
            fields["code_changes"] = changes
        packages = self.package_changes(step, record)
        if packages:
            fields["package_changes"] = packages
        return fields

    def accept(self, step: str, record_path: str, record: CompletionRecord) -> bool:
        """Rewrite ``record`` as made by today's code (keeping the file's times); whether it changed.

        Only the ``code`` field changes; the caller decides that the job passes every
        other check.
        """
        today = self.today(step)
        if today is None or recorded_digest(record) in (None, today.digest):
            return False
        info = os.stat(record_path)
        updated = {**record.to_json(), "code": self.field(today)}
        atomic_write_text(record_path, json.dumps(updated, indent=1, sort_keys=True) + "\n")
        # engines compare record times (Snakemake): the accepted record keeps its own
        os.utime(record_path, ns=(info.st_atime_ns, info.st_mtime_ns))
        return True

    def describe(self, step: str, record: CompletionRecord) -> dict[str, Any]:
        """Which code made a result: its digest, whether it is today's, what changed, packages."""
        recorded = recorded_digest(record)
        packages = record.code.packages if record.code is not None else None
        if recorded is None:
            return {"digest": None, "today": True, "changed": [], "packages": {}}
        changes = self.changes(step, record)
        return {
            "digest": recorded,
            "today": changes is None,
            "changed": list(changes or ()),
            "packages": packages if packages is not None else {},
        }

    def diff(self, step: str, record: CompletionRecord) -> list[str]:
        """A unified diff, piece by piece, from the code that made ``record`` to today's code.

        Sources are the stored normalised ones (``ast.unparse``: no comments, no docstrings).
        Empty when the record was made by today's code (or before code was tracked).
        """
        import difflib

        changes = self.changes(step, record)
        today = self.today(step)
        recorded = recorded_digest(record)
        if not changes or today is None or recorded is None:
            return []
        manifest = self.manifest(recorded) or {"functions": {}}
        old_digests: dict[str, str] = manifest["functions"]
        lines: list[str] = []
        for name in changes:
            old_digest = old_digests.get(name)
            old = (self.source(old_digest) or "") if old_digest else ""
            new = today.pieces[name].source + "\n" if name in today.pieces else ""
            lines += difflib.unified_diff(
                old.splitlines(),
                new.splitlines(),
                fromfile=f"{name} (made the result)" if old_digest else f"{name} (not reached then)",
                tofile=f"{name} (today)" if name in today.pieces else f"{name} (not reached today)",
                lineterm="",
            )
        return lines


class _StepJob(Protocol):
    @property
    def step(self) -> str: ...


class CodeVerdict(Protocol):
    """What `CodeSummary.add` reads of a verdict (a `phyper.JobVerdict`, which imports this module)."""

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

    def __init__(self, codes: StepCodes | None = None) -> None:
        self.codes = codes
        """Where each step's code warnings come from (None: they are not listed)."""
        self.older: dict[str, Counter[tuple[str, ...]]] = {}
        self.packages: dict[str, Counter[tuple[str, str, str | None]]] = {}
        self.other_packages: Counter[str] = Counter()
        self.step_names: dict[str, None] = {}

    def add_step(self, step: str) -> None:
        """A step of the plan (whose code warnings are listed)."""
        self.step_names.setdefault(step, None)

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
        for step in self.step_names:
            code = self.codes.today(step) if self.codes is not None else None
            if code is not None and code.warnings:
                lines.append(
                    f"warning: {step}: code phyper cannot follow ({len(code.warnings)}); changes there do not rerun it:"
                )
                shown = code.warnings if verbose else code.warnings[:3]
                lines.extend(f"  {warning}" for warning in shown)
                if len(shown) < len(code.warnings):
                    lines.append(f"  ... and {len(code.warnings) - len(shown)} more (phyper status -v lists them all)")
        return lines
