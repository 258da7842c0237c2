"""One function per ``phyper`` command; each takes the parsed arguments and returns the exit status."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

from phyper._cli import _import_attribute, load
from phyper._cli._output import Progress, human_size, print_json, table
from phyper._collect import collect_rows
from phyper._completion import check_job, read_record
from phyper._context import FULL_INSTANCE
from phyper._errors import (
    AmbiguousHashError,
    ManifestError,
    ManifestMismatchError,
    MetricsLoaderError,
    MissingDependencyError,
    ParserUsageError,
    UnknownHashError,
    UnknownResourceError,
    UnknownStepError,
    did_you_mean,
)
from phyper._inventory import HashedFolder, folder_size, grid_hashes, resource_name_of, scan_folders, scan_records
from phyper._manifest import MANIFEST_NAME, read_manifest
from phyper._migrate import apply_pipeline_migration, plan_pipeline_migration
from phyper._pipeline import Pipeline
from phyper._plan import Plan
from phyper._runner import read_job_log, run_job
from phyper._status import JobVerdict, job_verdicts, status_lines

__all__ = ["collect", "gc", "ls", "migrate", "plan", "run", "show", "status", "view"]


def _pipeline(arguments: argparse.Namespace) -> Pipeline:
    return load(getattr(arguments, "spec", None), arguments.pipeline)


# -- what the engines call, and the plan -------------------------------------------------


def run(arguments: argparse.Namespace) -> int:
    """``phyper run [PIPELINE] STEP KEY``: run one job in this process."""
    pipeline = _pipeline(arguments)
    run_job(pipeline, arguments.step, arguments.key, engine=arguments.engine, force=arguments.force)
    return 0


def status(arguments: argparse.Namespace) -> int:
    """``phyper status [PIPELINE] [-v]``: complete jobs per step, and why the others are to run."""
    pipeline = _pipeline(arguments)
    for line in status_lines(job_verdicts(pipeline, pipeline.plan(cache=True)), arguments.verbose):
        print(line)
    return 0


def plan(arguments: argparse.Namespace) -> int:
    """``phyper plan [PIPELINE]``: the plan as JSON."""
    built = _pipeline(arguments).plan()
    json.dump(
        {
            "steps": [step.__dict__ for step in built.steps],
            "jobs": [{**job.__dict__, "id": job.id} for job in built],
        },
        sys.stdout,
        indent=1,
    )
    print()
    return 0


# -- ls ----------------------------------------------------------------------------------


def _check_names(wanted: list[str] | None, known: list[str], what: str) -> list[str] | None:
    for name in wanted or []:
        if name not in known:
            error = UnknownStepError if what == "step" else UnknownResourceError
            raise error(f"no {what} `{name}`{did_you_mean(name, known)} (known: {', '.join(known)})")
    return wanted


def ls(arguments: argparse.Namespace) -> int:
    """``phyper ls``: jobs per step (complete, to run, failed) and folders per resource."""
    pipeline = _pipeline(arguments)
    built = pipeline.plan()
    hashes = grid_hashes(pipeline)
    steps = _check_names(arguments.step, [s.name for s in built.steps], "step")
    resources = _check_names(arguments.resource, list(hashes), "resource")
    narrowed = bool(steps or resources)
    step_rows = []
    by_step: dict[str, list[JobVerdict]] = {}
    for verdict in job_verdicts(pipeline, built):
        by_step.setdefault(verdict.job.step, []).append(verdict)
    for step in built.steps:
        folder = step.resource_name or FULL_INSTANCE if step.kind != "aggregate" else None
        if narrowed and step.name not in (steps or []) and (folder is None or folder not in (resources or [])):
            continue
        mine = by_step.get(step.name, [])
        to_run = sum(verdict.to_run for verdict in mine)
        step_rows.append({
            "step": step.name, "kind": step.kind, "resource": folder, "jobs": len(mine),
            "complete": len(mine) - to_run, "to_run": to_run, "failed": sum(verdict.failed for verdict in mine),
        })
    on_disk: dict[str, list[HashedFolder]] = {}
    progress = Progress("scanning folders")
    for found in scan_folders(pipeline, on_folder=progress.tick):
        on_disk.setdefault(found.resource, []).append(found)
    progress.done()
    written = {step.resource_name or FULL_INSTANCE for step in built.steps if step.kind != "aggregate"}
    folder_rows = []
    for name in [*hashes, *(n for n in on_disk if n not in hashes)]:
        shown_steps = {row["resource"] for row in step_rows}
        if narrowed and name not in (resources or []) and name not in shown_steps:
            continue
        folders = on_disk.get(name, [])
        present = {found.hash for found in folders if found.reached}
        folder_rows.append({
            "resource": name, "in_grid": len(hashes.get(name, {})), "on_disk": len(folders),
            # a resource no step writes has no folders to miss
            "missing": len(hashes.get(name, {})) - len(present) if name in written else None,
            "orphaned": sum(not f.reached and f.manifest is not None for f in folders),
            "no_manifest": sum(not f.reached and f.manifest is None for f in folders),
        })
    records = list(scan_records(pipeline, built))
    record_counts = {"owned": sum(r.owned for r in records), "orphaned": sum(not r.owned for r in records)}
    if arguments.json:
        print_json({"steps": step_rows, "folders": folder_rows, "records": record_counts})
        return 0
    if step_rows:
        print("\n".join(table(
            ["step", "kind", "jobs", "complete", "to run", "failed"],
            [[r["step"], r["kind"], r["jobs"], r["complete"], r["to_run"], r["failed"]] for r in step_rows],
        )))
    if folder_rows:
        if step_rows:
            print()
        print("\n".join(table(
            ["resource folder", "in grid", "on disk", "missing", "orphaned", "no manifest"],
            [[r["resource"], r["in_grid"], r["on_disk"], "-" if r["missing"] is None else r["missing"], r["orphaned"],
              r["no_manifest"]]
             for r in folder_rows],
        )))
    if not narrowed:
        print(f"\ncompletion records: {record_counts['owned']} of current jobs, {record_counts['orphaned']} orphaned"
              + (" (`phyper gc` lists them)" if record_counts["orphaned"] or any(r["orphaned"] for r in folder_rows) else ""))
    return 0


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


def _format_values(values: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items()) or "(none)"


def _files(folder: str) -> list[dict[str, Any]]:
    files = []
    for parent, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(parent, name)
            files.append({"path": os.path.relpath(path, folder), "bytes": os.lstat(path).st_size})
    return sorted(files, key=lambda entry: str(entry["path"]))


def _describe(pipeline: Pipeline, built: Plan, resource: str, resource_hash: str) -> dict[str, Any]:
    resource_name = resource_name_of(resource)
    index = grid_hashes(pipeline).get(resource, {})
    instance = index.get(resource_hash)
    root = pipeline.instances[0].hashed_resources_folder or ""
    folder = os.path.join(root, resource, resource_hash)
    manifest_problem = None
    if instance is not None:
        keys = instance.get_key_values(resource_name)
        in_grid = sum(1 for i in pipeline.instances if i.get_instance_hash(resource_name) == resource_hash)
        if os.path.isdir(folder):
            try:
                read_manifest(folder)
            except ManifestError as error:
                manifest_problem = str(error)
    else:
        in_grid = 0
        try:
            manifest = read_manifest(folder)
            if (manifest.resource, manifest.hash) != (resource, resource_hash):
                raise ManifestMismatchError(f"its manifest describes {manifest.resource}/{manifest.hash}")
            keys = manifest.key_values
        except ManifestError as error:
            # neither the grid nor a manifest says what the folder holds
            raise ManifestError(
                f"{folder} is not reached by the grid and has no valid manifest ({error}); phyper "
                "cannot tell what it holds: inspect it and remove it by hand (`phyper gc` leaves it alone)"
            ) from None
    jobs = []
    records = []
    for job in built:
        step = pipeline.steps[job.step]
        if step.kind != "aggregate" and step.folder_resource == resource and job.key == resource_hash:
            verdict = check_job(job)
            record = read_record(job.record)
            jobs.append({"job": job.id, "complete": verdict.complete, "reason": verdict.reason, "record": job.record})
            if record is not None:
                records.append((verdict.complete, record))
    done = os.path.join(pipeline.state_folder, "done")
    if os.path.isdir(done):
        planned = {entry["record"] for entry in jobs}
        for step_name in sorted(os.listdir(done)):
            path = os.path.join(done, step_name, resource_hash + ".json")
            if path not in planned and os.path.isfile(path):
                jobs.append({"job": f"{step_name}:{resource_hash}", "complete": False,
                             "reason": "orphaned record: no job of the current plan", "record": path})
                record = read_record(path)
                if record is not None:
                    records.append((False, record))
    non_keys: dict[str, Any] | None = None
    recorded_by = None
    # the most recent complete record wins (a record of a job to run only if none is complete)
    for _, record in sorted(records, key=lambda item: (item[0], float(item[1].get("finished", 0)))):
        if isinstance(record.get("non_keys"), dict):
            non_keys = record["non_keys"]
            recorded_by = f"{record.get('step')}:{record.get('key')} (engine {record.get('engine')}, " \
                f"finished {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(record.get('finished', 0))))})"
    # a migrated folder's jobs were logged under its old hash
    former = {str(record["migrated_from"]) for _, record in records if record.get("migrated_from")}
    log = [entry for entry in read_job_log(pipeline) if entry.get("key") in {resource_hash, *former}]
    return {
        "hash": resource_hash,
        "resource": resource,
        "instances_in_grid": in_grid,
        "key_values": keys,
        "manifest_problem": manifest_problem,
        "non_keys": non_keys,
        "non_keys_recorded_by": recorded_by,
        "folder": folder,
        "folder_exists": os.path.isdir(folder),
        "files": _files(folder) if os.path.isdir(folder) else [],
        "jobs": jobs,
        "job_log": dict(Counter(str(entry.get("status", "done")) for entry in log)),
    }


def _print_description(d: dict[str, Any]) -> None:
    print(f"{d['hash']}  {d['resource']}")
    if d["instances_in_grid"]:
        print(f"  in the grid: yes ({d['instances_in_grid']} instance{'s' if d['instances_in_grid'] > 1 else ''})")
    else:
        print("  in the grid: no (orphaned: `phyper gc` lists it)")
    print(f"  keys: {_format_values(d['key_values'])}")
    if d["manifest_problem"]:
        print(f"  manifest: {d['manifest_problem']}")
    if d["non_keys"] is not None:
        print(f"  non-keys: {_format_values(d['non_keys'])}")
        print(f"    as recorded by {d['non_keys_recorded_by']}")
    else:
        print("  non-keys: none recorded (no job has completed on this folder)")
    print(f"  folder: {d['folder']}" + ("" if d["folder_exists"] else " (does not exist)"))
    for entry in d["files"]:
        print(f"    {entry['path']}  {human_size(entry['bytes'])}")
    if d["jobs"]:
        print("  jobs:")
        for job in d["jobs"]:
            print(f"    {job['job']}: " + ("complete" if job["complete"] else f"to run ({job['reason']})"))
    else:
        print("  jobs: none (no step writes this resource's folder)" if d["instances_in_grid"] else
              "  jobs: none in the current plan (the grid does not reach this folder)")
    counts = d["job_log"]
    print("  job log: " + (", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "nothing logged"))


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


def show(arguments: argparse.Namespace) -> int:
    """``phyper show HASH`` or ``phyper show --where NAME=VALUE ...``."""
    pipeline = _pipeline(arguments)
    if arguments.where:
        return _show_where(pipeline, arguments)
    if not arguments.hash:
        raise UnknownHashError("give a HASH (or a prefix of one), or --where NAME=VALUE ...")
    prefix = arguments.hash.lower()
    if not _HEX.fullmatch(prefix) or len(prefix) > 32:
        raise UnknownHashError(f"`{arguments.hash}` is not a hash or a hash prefix (hexadecimal digits)")
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
    resource, resource_hash = candidates[0]
    description = _describe(pipeline, pipeline.plan(), resource, resource_hash)
    if arguments.json:
        print_json(description)
    else:
        _print_description(description)
    return 0


def _show_where(pipeline: Pipeline, arguments: argparse.Namespace) -> int:
    from phyper._instance_list import get_filtered_instances, get_instances_hashes

    if arguments.hash:
        raise ParserUsageError("give either a HASH or --where, not both")
    criteria = _parse_where(pipeline, arguments.where)
    resource_name = arguments.resource
    pipeline.instances[0]._phyper_shared.check_resource(resource_name)
    matching = get_filtered_instances(pipeline.instances, criteria)
    if not matching:
        raise UnknownHashError(f"no instance of the grid has {_format_values(criteria)}")
    rows = []
    for resource_hash in get_instances_hashes(matching, resource_name):
        instance = matching.hash_index(resource_name)[resource_hash]
        rows.append({"hash": resource_hash, "resource": resource_name or FULL_INSTANCE,
                     "key_values": instance.get_key_values(resource_name),
                     "folder": instance.get_resources_path(resource_name)})
    if arguments.json:
        print_json(rows)
    else:
        for row in rows:
            print(f"{row['hash']}  {_format_values(row['key_values'])}")
    return 0


# -- gc ----------------------------------------------------------------------------------


def _inside(path: str, root: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, base]) == base and real != base


def gc(arguments: argparse.Namespace) -> int:
    """``phyper gc [--delete]``: folders and records the current grid no longer reaches."""
    pipeline = _pipeline(arguments)
    root = pipeline.instances[0].hashed_resources_folder
    built = pipeline.plan()
    progress = Progress("scanning folders")
    orphans: list[dict[str, Any]] = []
    left_alone: list[dict[str, Any]] = []
    for found in scan_folders(pipeline, on_folder=progress.tick):
        if found.reached:
            continue
        entry: dict[str, Any] = {"resource": found.resource, "hash": found.hash, "path": found.path}
        if found.manifest is None:
            left_alone.append({**entry, "reason": found.problem})
        else:
            orphans.append({**entry, "bytes": folder_size(found.path), "key_values": found.manifest.key_values})
    progress.done()
    records: list[dict[str, Any]] = [
        {"path": r.path, "step": r.step, "key": r.key, "bytes": os.path.getsize(r.path)}
        for r in scan_records(pipeline, built)
        if not r.owned
    ]
    deleted = False
    if arguments.delete and root is not None:
        for entry in orphans:
            # belt and braces: a real folder strictly inside the hashed-resources folder,
            # still holding the manifest it was judged by
            path = entry["path"]
            if os.path.islink(path) or not _inside(path, root) or not os.path.isfile(os.path.join(path, MANIFEST_NAME)):
                raise ManifestMismatchError(f"refusing to delete {path}: it changed since it was scanned")
            shutil.rmtree(path)
        for entry in records:
            if _inside(entry["path"], root) or _inside(entry["path"], pipeline.state_folder):
                os.remove(entry["path"])
        deleted = True
    total = sum(entry["bytes"] for entry in orphans) + sum(entry["bytes"] for entry in records)
    # folders phyper cannot identify need a person: say so with the exit status too
    status = 1 if left_alone else 0
    if arguments.json:
        print_json({"deleted": deleted, "folders": orphans, "records": records, "left_alone": left_alone,
                    "bytes": total})
        return status
    verb = "deleted" if deleted else "would delete"
    print(f"{verb} {len(orphans)} folder(s) and {len(records)} completion record(s), {human_size(total)}"
          + ("" if deleted or not (orphans or records) else "; run `phyper gc --delete` to delete them"))
    for entry in orphans:
        print(f"  {entry['path']}  {human_size(entry['bytes'])}  {_format_values(entry['key_values'])}")
    for entry in records:
        print(f"  {entry['path']}  (record of {entry['step']}:{entry['key']}, no such job in the plan)")
    if left_alone:
        print(f"phyper: left alone {len(left_alone)} folder(s) without a valid manifest: phyper cannot tell "
              "what they hold; check and remove them by hand", file=sys.stderr)
        for entry in left_alone:
            print(f"  {entry['path']}: {entry['reason']}", file=sys.stderr)
    return status


# -- migrate -----------------------------------------------------------------------------


def migrate(arguments: argparse.Namespace) -> int:
    """``phyper migrate [--apply] [--rename OLD=NEW]``: rehash folders and records under the current classes."""
    renames: dict[str, str] = {}
    for item in arguments.rename:
        old, equals, new = item.partition("=")
        if not equals or not old or not new:
            raise ParserUsageError(f"--rename `{item}` is not OLD=NEW (e.g. --rename n_layers=n_hidden_layers)")
        renames[old] = new
    pipeline = _pipeline(arguments)
    progress = Progress("reading manifests and records")
    migration = plan_pipeline_migration(pipeline, renames=renames, on_item=progress.tick)
    progress.done()
    folders = migration.folders
    moves: list[dict[str, Any]] = [
        {"resource": m.resource, "from": m.old_folder, "to": m.new_folder, "dropped": list(m.dropped)}
        for m in folders.moves
    ]
    skipped = [{"path": path, "reason": reason} for path, reason in folders.skipped]
    collisions = {target: sources for target, sources in folders.collisions.items()}
    records = [{"from": r.old_path, "to": r.new_path} for r in migration.records]
    if arguments.json and (migration.refused or not arguments.apply):
        print_json({"applied": False, "refused": migration.refused, "moves": moves, "records": records,
                    "collisions": collisions, "record_collisions": migration.record_collisions, "skipped": skipped})
        return 2 if migration.refused else 0
    if migration.refused:
        # records collide because their folders do: list the folders, or else the records
        record_collisions = [] if collisions else migration.record_collisions
        print(f"phyper: migrate refused: {len(collisions) + len(record_collisions)} target(s) would receive "
              "two or more folders or records; nothing was moved", file=sys.stderr)
        for target, sources in collisions.items():
            print(f"  {target} <- {', '.join(sources)}", file=sys.stderr)
        for path in record_collisions:
            print(f"  record {path}", file=sys.stderr)
        dropped = sorted({name for move in moves for name in move["dropped"]})
        print("the current classes no longer tell these results apart"
              + (f" (values dropped: {', '.join(dropped)}, no longer keys)" if dropped else "")
              + ": delete the extra folders, or use --rename OLD=NEW if a key was renamed", file=sys.stderr)
        return 2
    if arguments.apply:
        apply_pipeline_migration(migration)
    if arguments.json:
        print_json({"applied": True, "refused": False, "moves": moves, "records": records,
                    "collisions": {}, "record_collisions": [], "skipped": skipped})
        return 0
    verb = "moved" if arguments.apply else "would move"
    print(f"{verb} {len(moves)} folder(s), {'rewrote' if arguments.apply else 'would rewrite'} "
          f"{len(records)} completion record(s)"
          + ("" if arguments.apply or not moves else "; run `phyper migrate --apply` to do it"))
    dropped = sorted({name for move in moves for name in move["dropped"]})
    for move in moves:
        print(f"  {move['resource']}: {os.path.basename(move['from'])} -> {os.path.basename(move['to'])}")
    if dropped:
        print(f"values dropped (not keys of their resource any more): {', '.join(dropped)}; if a key was "
              "renamed, use --rename OLD=NEW instead")
    problems = [entry for entry in skipped if entry["reason"] != "no manifest"]
    if problems:
        print(f"left alone: {len(problems)} folder(s) whose manifest cannot be read under the current classes")
        for entry in problems:
            print(f"  {entry['path']}: {entry['reason']}")
    return 0


# -- view --------------------------------------------------------------------------------


def _segment(name: str, value: Any) -> str:
    # a folder name per value: '/' (and a leading '.') would make it something else
    text = quote(str(value), safe=" =+,:@()[]'\"")
    return f"{name}={'%2E' + text[1:] if text.startswith('.') else text}"


def view(arguments: argparse.Namespace) -> int:
    """``phyper view``: (re)build the tree of symbolic links named by key values."""
    pipeline = _pipeline(arguments)
    root = pipeline.instances[0].hashed_resources_folder
    if root is None:
        raise ParserUsageError("the parser has no hashed_resources_folder: there are no hashed folders to view")
    into = arguments.into or os.path.join(os.path.dirname(os.path.normpath(root)), "views")
    if os.path.realpath(into) == os.path.realpath(root):
        raise ParserUsageError(f"--into {into} is the hashed-resources folder itself; choose another folder")
    shared = pipeline.instances[0]._phyper_shared
    # keys with several values in the grid: what tells the instances of a resource apart
    seen: dict[str, set[tuple[type, Any]]] = {name: set() for name in shared.schema.keys}
    for instance in pipeline.instances:
        for name, value in instance.get_key_values().items():
            seen[name].add((type(value), value))
    varying = [name for name in shared.schema.keys if len(seen[name]) > 1]
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
    if arguments.json:
        print_json({"into": into, "links": len(wanted), "created": created, "removed": removed, "unchanged": unchanged})
    else:
        print(f"{into}: {len(wanted)} links ({created} created, {removed} removed, {unchanged} unchanged)")
    return 0


# -- collect -----------------------------------------------------------------------------


def collect(arguments: argparse.Namespace) -> int:
    """``phyper collect [-o FILE]``: every result as one CSV (or parquet) table."""
    pipeline = _pipeline(arguments)
    found = _import_attribute(arguments.metrics) if arguments.metrics else None
    if found is not None and not callable(found):
        raise MetricsLoaderError(f"--metrics {arguments.metrics} is a {type(found).__name__}, not a function")
    loader = found if callable(found) else None
    columns, rows = collect_rows(pipeline, loader, arguments.resource)
    output = arguments.output
    if output and output.endswith(".parquet"):
        try:
            import pandas
        except ImportError:
            raise MissingDependencyError("writing parquet needs pandas (and pyarrow); write a .csv instead") from None
        frame = pandas.DataFrame(rows, columns=columns)
        try:
            frame.to_parquet(output, index=False)
        except ImportError as error:
            raise MissingDependencyError(f"pandas cannot write parquet here ({error}); write a .csv instead") from None
    elif output:
        folder = os.path.dirname(output)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(output, "w", newline="", encoding="utf-8") as handle:
            _write_csv(handle, columns, rows)
    else:
        _write_csv(sys.stdout, columns, rows)
        return 0
    complete = sum(bool(row["complete"]) for row in rows)
    print(f"wrote {len(rows)} rows ({complete} complete) to {output}")
    return 0


def _write_csv(handle: Any, columns: list[str], rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row.get(name) is None else row[name] for name in columns})
