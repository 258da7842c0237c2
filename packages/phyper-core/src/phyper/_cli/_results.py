"""Commands about results: ``ls``, ``show``, ``view``, ``collect``, ``report``."""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from phyper._cli._command import JSON, Command, option
from phyper._cli._loading import load_metrics
from phyper._cli._output import JsonObject, Output, Progress, format_values, human_size, table
from phyper._errors import (
    AmbiguousHashError,
    ManifestError,
    ManifestMismatchError,
    MissingDependencyError,
    ParserUsageError,
    UnknownHashError,
    UnknownResourceError,
    UnknownStepError,
    did_you_mean,
)
from phyper._model.context import FULL_INSTANCE
from phyper._model.manifest import read_manifest
from phyper._planning.keys import is_batch_key
from phyper._planning.pipeline import Pipeline
from phyper._planning.plan import Plan
from phyper._planning.verdict import Verdicts
from phyper._results.collect import FolderWriters, collect_rows
from phyper._results.inventory import HashedFolder, grid_hashes, resource_name_of, scan_folders, scan_records
from phyper._state.records import read_record

if TYPE_CHECKING:
    from phyper._state.formats import CompletionRecord

__all__ = [
    "COMMANDS", "CodeDiffResult", "CollectTable", "CollectWritten", "FileEntry", "FolderCount", "FolderJob",
    "GridHash", "JobCode", "LsResult", "RecordCount", "ReportResult", "ShowResult", "ShowWhereResult", "StepCount",
    "ViewResult", "collect", "ls", "report", "show", "view",
]


# -- ls ----------------------------------------------------------------------------------


def _check_names(wanted: list[str] | None, known: list[str], what: str) -> list[str] | None:
    for name in wanted or []:
        if name not in known:
            error = UnknownStepError if what == "step" else UnknownResourceError
            raise error(f"no {what} `{name}`{did_you_mean(name, known)} (known: {', '.join(known)})")
    return wanted


def _step_rows(built: Plan, steps: list[str], resources: list[str]) -> list[dict[str, Any]]:
    """Jobs, complete, to run and failed per step (only the chosen steps and resources, if any).

    Counted by the verdicts' one fold (what ``phyper status`` and the report count).
    """
    narrowed = bool(steps or resources)
    counts = Verdicts(built).summary(limit=0).steps
    rows = []
    for step in built.steps:
        folder = step.resource_name or FULL_INSTANCE if step.kind != "aggregate" else None
        if narrowed and step.name not in steps and (folder is None or folder not in resources):
            continue
        count = counts[step.name]
        rows.append({
            "step": step.name, "kind": step.kind, "resource": folder, "jobs": count.total,
            "complete": count.total - count.to_run, "to_run": count.to_run, "failed": count.failed,
        })
    return rows


def _folder_rows(
    pipeline: Pipeline, built: Plan, resources: list[str], step_rows: list[dict[str, Any]], narrowed: bool
) -> list[dict[str, Any]]:
    """Folders in the grid, on disk, missing, orphaned and without manifest per resource folder."""
    hashes = grid_hashes(pipeline)
    on_disk: dict[str, list[HashedFolder]] = {}
    progress = Progress("scanning folders")
    for found in scan_folders(pipeline, on_folder=progress.tick):
        on_disk.setdefault(found.resource, []).append(found)
    progress.done()
    written = {step.resource_name or FULL_INSTANCE for step in built.steps if step.kind != "aggregate"}
    shown_steps = {row["resource"] for row in step_rows}
    rows = []
    for name in [*hashes, *(n for n in on_disk if n not in hashes)]:
        if narrowed and name not in resources and name not in shown_steps:
            continue
        folders = on_disk.get(name, [])
        present = {found.hash for found in folders if found.reached}
        rows.append({
            "resource": name, "in_grid": len(hashes.get(name, {})), "on_disk": len(folders),
            # a resource no step writes has no folders to miss
            "missing": len(hashes.get(name, {})) - len(present) if name in written else None,
            "orphaned": sum(not f.reached and f.manifest is not None for f in folders),
            "no_manifest": sum(not f.reached and f.manifest is None for f in folders),
        })
    return rows


def _ls_lines(step_rows: list[dict[str, Any]], folder_rows: list[dict[str, Any]], records: dict[str, int],
              narrowed: bool) -> list[str]:
    lines = []
    if step_rows:
        lines += table(
            ["step", "kind", "jobs", "complete", "to run", "failed"],
            [[r["step"], r["kind"], r["jobs"], r["complete"], r["to_run"], r["failed"]] for r in step_rows],
        )
    if folder_rows:
        if step_rows:
            lines.append("")
        lines += table(
            ["resource folder", "in grid", "on disk", "missing", "orphaned", "no manifest"],
            [[r["resource"], r["in_grid"], r["on_disk"], "-" if r["missing"] is None else r["missing"], r["orphaned"],
              r["no_manifest"]]
             for r in folder_rows],
        )
    if not narrowed:
        orphans = records["orphaned"] or any(r["orphaned"] for r in folder_rows)
        batches = f", {records['batches']} of batch jobs" if records["batches"] else ""
        lines.append(f"\ncompletion records: {records['jobs']} of current jobs{batches}, {records['orphaned']} orphaned"
                     + (" (`phyper gc` lists them)" if orphans else ""))
    return lines


@dataclass(frozen=True)
class StepCount(JsonObject):
    """A step of ``phyper ls --json``."""

    step: str
    kind: str
    resource: str | None
    """The folder its jobs write (None: an aggregate)."""
    jobs: int
    complete: int
    to_run: int
    failed: int


@dataclass(frozen=True)
class FolderCount(JsonObject):
    """A resource folder of ``phyper ls --json``."""

    resource: str
    in_grid: int
    on_disk: int
    missing: int | None
    """None when no step writes the resource's folders (nothing can be missing)."""
    orphaned: int
    no_manifest: int


@dataclass(frozen=True)
class RecordCount(JsonObject):
    """The completion records of ``phyper ls --json``."""

    jobs: int
    batches: int
    orphaned: int


@dataclass(frozen=True)
class LsResult(JsonObject):
    """``phyper ls --json``."""

    steps: list[StepCount]
    folders: list[FolderCount]
    records: RecordCount


def ls(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper ls``: jobs per step (complete, to run, failed) and folders per resource."""
    built = pipeline.plan()
    steps = _check_names(arguments.step, [s.name for s in built.steps], "step") or []
    resources = _check_names(arguments.resource, list(grid_hashes(pipeline)), "resource") or []
    narrowed = bool(steps or resources)
    step_rows = _step_rows(built, steps, resources)
    folder_rows = _folder_rows(pipeline, built, resources, step_rows, narrowed)
    records = list(scan_records(pipeline, built))
    # a batch job's own record is not one of the jobs: counted apart (90 models in 8 batches are 98 records)
    record_counts = {
        "jobs": sum(r.owned and not is_batch_key(r.key) for r in records),
        "batches": sum(r.owned and is_batch_key(r.key) for r in records),
        "orphaned": sum(not r.owned for r in records),
    }
    return Output(
        data=LsResult([StepCount(**row) for row in step_rows], [FolderCount(**row) for row in folder_rows],
                      RecordCount(**record_counts)),
        lines=_ls_lines(step_rows, folder_rows, record_counts, narrowed),
    )


LS = Command(
    "ls", ls, "count jobs and hashed folders per step and resource",
    "For each step: jobs, complete, to run, failed. For each resource folder: hashes of the grid, "
    "folders on disk, grid hashes missing on disk, orphaned folders (not reached by the grid; "
    "`phyper gc` removes them) and folders without a valid manifest.",
    (
        option("--step", action="append", metavar="STEP", help="only this step (repeatable)"),
        option("--resource", action="append", metavar="RESOURCE",
               help="only this resource folder, e.g. `all` or `transformed_data` (repeatable)"),
        JSON,
    ),
)


# -- show --------------------------------------------------------------------------------


_HEX = re.compile(r"[0-9a-f]+")


def _candidates(pipeline: Pipeline, prefix: str) -> list[tuple[str, str]]:
    """(resource folder, hash) pairs, from the grid and from disk, whose hash starts with ``prefix``."""
    found: dict[tuple[str, str], None] = {}
    for name, index in grid_hashes(pipeline).items():
        for resource_hash in index:
            if resource_hash.startswith(prefix):
                found[(name, resource_hash)] = None
    for folder in scan_folders(pipeline):
        if folder.hash.startswith(prefix):
            found[(folder.resource, folder.hash)] = None
    return list(found)


@dataclass(frozen=True)
class FileEntry(JsonObject):
    """A file of a hashed folder (``phyper show``)."""

    path: str
    """Relative to the folder."""
    bytes: int


@dataclass(frozen=True)
class JobCode(JsonObject):
    """Which code made a job's result (``phyper show``)."""

    digest: str | None
    """None: made before phyper tracked code, or with ``track_code=False``."""
    today: bool
    changed: list[str]
    """The functions and classes changed since (empty: today's code, or unknown)."""
    packages: dict[str, str]


@dataclass(frozen=True)
class FolderJob(JsonObject):
    """A job writing a hashed folder, or an orphaned record of its hash (``phyper show``)."""

    job: str
    complete: bool
    reason: str
    """Why it is to run (empty when complete)."""
    record: str
    code: JobCode | None
    """None when the job has no record (or the record is an orphan)."""


@dataclass(frozen=True)
class ShowResult(JsonObject):
    """``phyper show HASH --json``: what a hash is."""

    hash: str
    resource: str
    instances_in_grid: int
    key_values: dict[str, Any]
    manifest_problem: str | None
    non_keys: dict[str, Any] | None
    non_keys_recorded_by: str | None
    folder: str
    folder_exists: bool
    files: list[FileEntry]
    jobs: list[FolderJob]
    job_log: dict[str, int]
    """Entries of the job log per status (``done``, ``failed``, ``skipped``), old hashes of a migrated folder included."""


def _files(folder: str) -> list[FileEntry]:
    files = []
    for parent, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(parent, name)
            files.append(FileEntry(os.path.relpath(path, folder), os.lstat(path).st_size))
    return sorted(files, key=lambda entry: entry.path)


def _identity(pipeline: Pipeline, resource: str, resource_hash: str, folder: str) -> tuple[dict[str, Any], int, str | None]:
    """The folder's key values, how many instances of the grid reach it, and a manifest problem.

    The grid says what a folder it reaches holds; otherwise only its manifest can.
    """
    resource_name = resource_name_of(resource)
    instance = grid_hashes(pipeline).get(resource, {}).get(resource_hash)
    if instance is not None:
        in_grid = sum(1 for i in pipeline.instances if i.get_instance_hash(resource_name) == resource_hash)
        problem = None
        if os.path.isdir(folder):
            try:
                read_manifest(folder)
            except ManifestError as error:
                problem = str(error)
        return instance.get_key_values(resource_name), in_grid, problem
    try:
        manifest = read_manifest(folder)
        if (manifest.resource, manifest.hash) != (resource, resource_hash):
            raise ManifestMismatchError(f"its manifest describes {manifest.resource}/{manifest.hash}")
        return manifest.key_values, 0, None
    except ManifestError as error:
        # neither the grid nor a manifest says what the folder holds
        raise ManifestError(
            f"{folder} is not reached by the grid and has no valid manifest ({error}); phyper "
            "cannot tell what it holds: inspect it and remove it by hand (`phyper gc` leaves it alone)"
        ) from None


def _jobs_and_records(
    pipeline: Pipeline, built: Plan, resource: str, resource_hash: str, folder: str
) -> tuple[list[FolderJob], list[tuple[bool, CompletionRecord]]]:
    """The jobs writing the folder (with orphaned records of its hash) and their records.

    Which jobs write a folder is `phyper._results.collect.FolderWriters`'s answer (what
    ``collect`` reads too); whether each is complete, the verdicts' (what status says).
    """
    jobs = []
    records = []
    verdicts = Verdicts(built)
    writers, _ = FolderWriters(pipeline, None, verdicts).records(resource, resource_hash, folder)
    for job, record in writers:
        verdict = verdicts.verdict(job)
        code = JobCode(**pipeline.codes.describe(job.step, record)) if record is not None else None
        jobs.append(FolderJob(job.id, not verdict.to_run, verdict.reason, job.record, code))
        if record is not None:
            records.append((not verdict.to_run, record))
    planned = {entry.record for entry in jobs}
    for step_name in pipeline.state.record_steps():
        path = pipeline.state.record_path(step_name, resource_hash)
        if path not in planned and os.path.isfile(path):
            jobs.append(FolderJob(f"{step_name}:{resource_hash}", False,
                                  "orphaned record: no job of the current plan", path, None))
            record = read_record(path)
            if record is not None:
                records.append((False, record))
    return jobs, records


def _recorded_non_keys(records: list[tuple[bool, CompletionRecord]]) -> tuple[dict[str, Any] | None, str | None]:
    """The non-key values of the most recent complete record (of a record of a job to run if none is)."""
    non_keys: dict[str, Any] | None = None
    recorded_by = None
    for _, record in sorted(records, key=lambda item: (item[0], float(item[1].finished or 0))):
        if record.non_keys is not None:
            non_keys = record.non_keys
            finished = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(record.finished or 0)))
            recorded_by = f"{record.step}:{record.key} (engine {record.engine}, finished {finished})"
    return non_keys, recorded_by


def _describe(pipeline: Pipeline, built: Plan, resource: str, resource_hash: str) -> ShowResult:
    root = pipeline.instances[0].hashed_resources_folder or ""
    folder = os.path.join(root, resource, resource_hash)
    keys, in_grid, manifest_problem = _identity(pipeline, resource, resource_hash, folder)
    jobs, records = _jobs_and_records(pipeline, built, resource, resource_hash, folder)
    non_keys, recorded_by = _recorded_non_keys(records)
    # a migrated folder's jobs were logged under its old hash
    former = {record.migrated_from for _, record in records if record.migrated_from}
    log = [entry for entry in pipeline.state.iter_log() if entry.key in {resource_hash, *former}]
    return ShowResult(
        hash=resource_hash,
        resource=resource,
        instances_in_grid=in_grid,
        key_values=keys,
        manifest_problem=manifest_problem,
        non_keys=non_keys,
        non_keys_recorded_by=recorded_by,
        folder=folder,
        folder_exists=os.path.isdir(folder),
        files=_files(folder) if os.path.isdir(folder) else [],
        jobs=jobs,
        job_log=dict(Counter(entry.status for entry in log)),
    )


def _description_lines(d: ShowResult) -> list[str]:
    lines = [f"{d.hash}  {d.resource}"]
    if d.instances_in_grid:
        lines.append(f"  in the grid: yes ({d.instances_in_grid} instance{'s' if d.instances_in_grid > 1 else ''})")
    else:
        lines.append("  in the grid: no (orphaned: `phyper gc` lists it)")
    lines.append(f"  keys: {format_values(d.key_values)}")
    if d.manifest_problem:
        lines.append(f"  manifest: {d.manifest_problem}")
    if d.non_keys is not None:
        lines.append(f"  non-keys: {format_values(d.non_keys)}")
        lines.append(f"    as recorded by {d.non_keys_recorded_by}")
    else:
        lines.append("  non-keys: none recorded (no job has completed on this folder)")
    lines.append(f"  folder: {d.folder}" + ("" if d.folder_exists else " (does not exist)"))
    lines += [f"    {entry.path}  {human_size(entry.bytes)}" for entry in d.files]
    if d.jobs:
        lines.append("  jobs:")
        for job in d.jobs:
            lines.append(f"    {job.job}: " + ("complete" if job.complete else f"to run ({job.reason})"))
            lines += _code_lines(job.code)
    else:
        lines.append("  jobs: none (no step writes this resource's folder)" if d.instances_in_grid else
                     "  jobs: none in the current plan (the grid does not reach this folder)")
    counts = d.job_log
    lines.append("  job log: " + (", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
                                  or "nothing logged"))
    return lines


def _code_lines(code: JobCode | None) -> list[str]:
    """Which code made a job's result (``phyper show``)."""
    if code is None:
        return []
    if code.digest is None:
        return ["      code: not recorded (made before phyper tracked code, or with track_code=False)"]
    packages = ", ".join(f"{name} {version}" for name, version in sorted(code.packages.items()))
    made = f"      code: {code.digest[:12]}" + (f", packages {packages}" if packages else "")
    if code.today:
        return [made + " (today's code)"]
    changed = ", ".join(code.changed) or "what changed is unknown: its stored code is gone"
    return [made + f" (older code: {changed} changed; `phyper show HASH --code-diff` shows how)"]


def _parse_where(pipeline: Pipeline, assignments: list[str]) -> dict[str, Any]:
    schema = pipeline.instances[0]._phyper_shared.schema
    criteria: dict[str, Any] = {}
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        if not equals:
            raise ParserUsageError(f"--where `{assignment}` is not NAME=VALUE (e.g. --where transformation=log)")
        position = schema.position(name, context="--where")
        criteria[name] = schema.hyperparameters[position].value_type.parse(name, text)
    return criteria


def _unique_hash(pipeline: Pipeline, given: str) -> tuple[str, str]:
    """The (resource folder, hash) that ``given``, a hash or a prefix of one, names."""
    prefix = given.lower()
    if not _HEX.fullmatch(prefix) or len(prefix) > 32:
        raise UnknownHashError(f"`{given}` is not a hash or a hash prefix (hexadecimal digits)")
    candidates = _candidates(pipeline, prefix)
    if not candidates:
        raise UnknownHashError(
            f"no hash of the grid and no hashed folder starts with `{prefix}`; `phyper ls` counts them, "
            "`phyper show --where NAME=VALUE` finds hashes from values"
        )
    if len(candidates) > 1:
        listed = "; ".join(f"{h} ({resource})" for resource, h in sorted(candidates, key=lambda c: c[1])[:20])
        more = f" and {len(candidates) - 20} more" if len(candidates) > 20 else ""
        raise AmbiguousHashError(
            f"`{prefix}` is the start of {len(candidates)} hashes: {listed}{more}; give more digits"
        )
    return candidates[0]


def show(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper show HASH`` or ``phyper show --where NAME=VALUE ...``."""
    if arguments.where:
        return _show_where(pipeline, arguments)
    if not arguments.hash:
        raise UnknownHashError("give a HASH (or a prefix of one), or --where NAME=VALUE ...")
    resource, resource_hash = _unique_hash(pipeline, arguments.hash)
    description = _describe(pipeline, pipeline.plan(), resource, resource_hash)
    if arguments.code_diff:
        return _code_diff(pipeline, description)
    return Output(data=description, lines=_description_lines(description))


@dataclass(frozen=True)
class CodeDiffResult:
    """``phyper show HASH --code-diff --json``: job id -> diff lines (empty: today's code, or no result)."""

    diffs: dict[str, list[str]]

    def to_json(self) -> dict[str, list[str]]:
        """The diffs by job id."""
        return {job: list(lines) for job, lines in self.diffs.items()}


def _code_diff(pipeline: Pipeline, description: ShowResult) -> Output:
    """``phyper show HASH --code-diff``: from the code that made each result to today's."""
    lines: list[str] = []
    diffs: dict[str, list[str]] = {}
    for job in description.jobs:
        record = read_record(job.record)
        diff = pipeline.codes.diff(job.job.partition(":")[0], record) if record is not None else []
        diffs[job.job] = diff
        if diff:
            lines += [f"{job.job}: made by older code", *diff]
        else:
            lines.append(f"{job.job}: " + ("made by today's code" if record is not None else "no result yet"))
    return Output(data=CodeDiffResult(diffs), lines=lines)


@dataclass(frozen=True)
class GridHash(JsonObject):
    """A hash of the grid whose values match ``--where``."""

    hash: str
    resource: str
    key_values: dict[str, Any]
    folder: str


@dataclass(frozen=True)
class ShowWhereResult:
    """``phyper show --where NAME=VALUE ... --json``: a JSON list of the matching hashes."""

    rows: list[GridHash] = field(default_factory=list)

    def to_json(self) -> list[dict[str, Any]]:
        """The rows, as a list."""
        return [row.to_json() for row in self.rows]


def _show_where(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    from phyper._model.instance_list import get_filtered_instances, get_instances_hashes

    if arguments.hash:
        raise ParserUsageError("give either a HASH or --where, not both")
    criteria = _parse_where(pipeline, arguments.where)
    resource_name = arguments.resource
    pipeline.instances[0]._phyper_shared.check_resource(resource_name)
    matching = get_filtered_instances(pipeline.instances, criteria)
    if not matching:
        raise UnknownHashError(f"no instance of the grid has {format_values(criteria)}")
    rows = []
    for resource_hash in get_instances_hashes(matching, resource_name):
        instance = matching.hash_index(resource_name)[resource_hash]
        rows.append(GridHash(resource_hash, resource_name or FULL_INSTANCE, instance.get_key_values(resource_name),
                             instance.get_resources_path(resource_name)))
    return Output(data=ShowWhereResult(rows), lines=[f"{row.hash}  {format_values(row.key_values)}" for row in rows])


SHOW = Command(
    "show", show, "what a hash is: resource, values, folder, files, jobs",
    "Describe a hashed folder from its hash or a unique prefix of it (as in git): its resource, "
    "key values, the non-key values it was run with, its folder and files, and the jobs that "
    "write it. With --where, list the hashes whose values match instead.",
    (
        option("hash", nargs="?", metavar="HASH", help="a hash, or a unique prefix of one"),
        option("--where", nargs="+", metavar="NAME=VALUE",
               help="list the hashes of the grid with these key values, e.g. --where transformation=log centering=True"),
        option("--resource", metavar="RESOURCE", default=None,
               help="with --where: list this resource's hashes instead of full instances'"),
        option("--code-diff", action="store_true",
               help="the difference between the code that made each result of HASH and today's code"),
        JSON,
    ),
)


# -- view --------------------------------------------------------------------------------


def _segment(name: str, value: Any) -> str:
    # a folder name per value: '/' (and a leading '.') would make it something else
    text = quote(str(value), safe=" =+,:@()[]'\"")
    return f"{name}={'%2E' + text[1:] if text.startswith('.') else text}"


def _wanted_links(pipeline: Pipeline, into: str) -> dict[str, str]:
    """Link path -> relative target, for every folder of the grid on disk."""
    shared = pipeline.instances[0]._phyper_shared
    varying = pipeline.varying_keys()
    wanted: dict[str, str] = {}
    for resource, index in grid_hashes(pipeline).items():
        resource_name = resource_name_of(resource)
        names = shared.dependencies(resource_name)
        members: dict[str, list[Any]] | None = None
        for resource_hash, instance in index.items():
            values = instance.get_key_values(resource_name)
            base = os.path.join(into, resource, *([_segment(name, values[name]) for name in names] or ["_"]))
            folder = instance.get_resources_path(resource_name)
            if os.path.isdir(folder):
                wanted[os.path.normpath(base)] = os.path.relpath(folder, os.path.dirname(base))
            elif resource_name is not None:
                # no step writes this resource's folder: list its instances' folders instead
                # (e.g. the five cross-validation folds of a model), named by the other keys
                rest = [name for name in varying if name not in names]
                if members is None:
                    members = {}
                    for member in pipeline.instances:
                        members.setdefault(member.get_instance_hash(resource_name), []).append(member)
                for member in members[resource_hash]:
                    if not os.path.isdir(member.get_resources_path()):
                        continue
                    all_values = member.to_dict()
                    link = os.path.join(base, *[_segment(name, all_values[name]) for name in rest]) if rest else base
                    wanted[os.path.normpath(link)] = os.path.relpath(member.get_resources_path(), os.path.dirname(link))
    return wanted


def _sync_links(into: str, wanted: dict[str, str]) -> tuple[int, int, int]:
    """Make the tree under ``into`` hold exactly ``wanted``; (created, removed, unchanged)."""
    created = removed = unchanged = 0
    if os.path.isdir(into):
        for parent, folders, files in os.walk(into, topdown=False):
            for name in [*files, *folders]:
                path = os.path.join(parent, name)
                if os.path.islink(path):
                    target = wanted.get(os.path.normpath(path))
                    if target is None or os.readlink(path) != target:
                        os.remove(path)
                        removed += 1
                elif os.path.isdir(path) and not os.listdir(path):
                    os.rmdir(path)
    for link, target in sorted(wanted.items()):
        if os.path.islink(link):
            unchanged += 1
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link)
        created += 1
    return created, removed, unchanged


@dataclass(frozen=True)
class ViewResult(JsonObject):
    """``phyper view --json``."""

    into: str
    links: int
    created: int
    removed: int
    unchanged: int


def view(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper view``: (re)build the tree of symbolic links named by key values."""
    root = pipeline.instances[0].hashed_resources_folder
    if root is None:
        raise ParserUsageError("the parser has no hashed_resources_folder: there are no hashed folders to view")
    into = arguments.into or os.path.join(os.path.dirname(os.path.normpath(root)), "views")
    if os.path.realpath(into) == os.path.realpath(root):
        raise ParserUsageError(f"--into {into} is the hashed-resources folder itself; choose another folder")
    wanted = _wanted_links(pipeline, into)
    created, removed, unchanged = _sync_links(into, wanted)
    return Output(
        data=ViewResult(into, len(wanted), created, removed, unchanged),
        lines=[f"{into}: {len(wanted)} links ({created} created, {removed} removed, {unchanged} unchanged)"],
    )


VIEW = Command(
    "view", view, "a browsable tree of symbolic links to the hashed folders",
    "(Re)build a tree of relative symbolic links, e.g. "
    "views/cross_validated_model/transformation=log/centering=True/n_hidden_layers=2 -> "
    "the hashed folder, for every folder of the grid on disk. Idempotent: stale links are removed.",
    (
        option("--into", metavar="FOLDER", default=None,
               help="where to build the tree (default: `views` beside the hashed-resources folder)"),
        JSON,
    ),
)


# -- collect -----------------------------------------------------------------------------


def _write_csv(handle: Any, columns: list[str], rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row.get(name) is None else row[name] for name in columns})


def _write_parquet(output: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    try:
        import pandas
    except ImportError:
        raise MissingDependencyError("writing parquet needs pandas (and pyarrow); write a .csv instead") from None
    frame = pandas.DataFrame(rows, columns=columns)
    try:
        frame.to_parquet(output, index=False)
    except ImportError as error:
        raise MissingDependencyError(f"pandas cannot write parquet here ({error}); write a .csv instead") from None


@dataclass(frozen=True)
class CollectTable(JsonObject):
    """``phyper collect --json`` (no ``-o``): the table itself, its columns, then one object per row."""

    columns: list[str]
    rows: list[dict[str, Any]]
    """Column -> value (None for an empty cell); the columns depend on the grid and the metrics."""


@dataclass(frozen=True)
class CollectWritten(JsonObject):
    """``phyper collect -o FILE --json``: what was written."""

    path: str
    rows: int
    complete: int


def collect(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper collect [-o FILE]``: every result as one CSV (or parquet) table."""
    columns, rows = collect_rows(pipeline, load_metrics(arguments.metrics), arguments.resource)
    output = arguments.output
    if not output:
        if arguments.json:
            return Output(data=CollectTable(columns, [{name: row.get(name) for name in columns} for row in rows]))
        text = io.StringIO()
        _write_csv(text, columns, rows)
        return Output(lines=[text.getvalue().removesuffix("\n")])
    if output.endswith(".parquet"):
        _write_parquet(output, columns, rows)
    else:
        if os.path.dirname(output):
            os.makedirs(os.path.dirname(output), exist_ok=True)
        with open(output, "w", newline="", encoding="utf-8") as handle:
            _write_csv(handle, columns, rows)
    complete = sum(bool(row["complete"]) for row in rows)
    return Output(data=CollectWritten(output, len(rows), complete),
                  lines=[f"wrote {len(rows)} rows ({complete} complete) to {output}"])


COLLECT = Command(
    "collect", collect, "write every result as one table (CSV or parquet)",
    "One row per instance (or per resource hash): hashes, key values, recorded non-key values, "
    "completion, and the metrics of an optional loader. CSV, or parquet when FILE ends in "
    ".parquet (needs pandas and pyarrow).",
    (
        option("-o", "--output", metavar="FILE", default=None, help="the file to write (default: CSV on stdout)"),
        option("--resource", metavar="RESOURCE", default=None,
               help="one row per hash of this resource instead of per instance"),
        option("--metrics", metavar="MODULE:FUNCTION", default=None,
               help="a loader: FUNCTION(instance) returns a dict of metrics read from the result's folder "
                    "(default: the pipeline's own, named with pipeline.metrics(loader))"),
        JSON,
    ),
)


# -- report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult(JsonObject):
    """``phyper report --json``: the page written."""

    path: str
    bytes: int


def report(pipeline: Pipeline, arguments: argparse.Namespace) -> Output:
    """``phyper report [-o FILE]``: one self-contained HTML page of the grid (works offline)."""
    from phyper._results.report import report as write_report

    output = arguments.output
    if not output:
        root = pipeline.instances[0].hashed_resources_folder
        # not results/report.html: a pipeline may write that one as a step (the Iris example does)
        output = os.path.join(root or ".", "report.html")
    written = write_report(pipeline, output, metrics=load_metrics(arguments.metrics), group_by=arguments.group_by)
    return Output(
        data=ReportResult(written, os.path.getsize(written)),
        lines=[f"wrote {written} ({human_size(os.path.getsize(written))}); open it in a browser (it works offline)"],
    )


REPORT = Command(
    "report", report, "write one self-contained HTML page of the grid (status, results, plots)",
    "Overview, the verdict on every job, a sortable and filterable results table (grouped by a "
    "resource on demand), parallel coordinates of the keys and a metric, run times, stale results "
    "and the pipeline's figures, in one HTML file that opens offline. The metrics are the "
    "pipeline's own (pipeline.metrics(loader)) unless --metrics names a loader. Needs plotly: "
    "pip install 'phyper-core[report]'.",
    (
        option("-o", "--output", metavar="FILE", default=None,
               help="the HTML file to write (default: report.html in the hashed-resources folder)"),
        option("--group-by", metavar="RESOURCE", default=None,
               help="one row per hash of this resource (mean of the metrics): for grids of 100,000 instances"),
        option("--metrics", metavar="MODULE:FUNCTION", default=None,
               help="a loader instead of the pipeline's own: FUNCTION(instance) returns a dict of metrics"),
        JSON,
    ),
)

COMMANDS = (LS, SHOW, VIEW, COLLECT, REPORT)
