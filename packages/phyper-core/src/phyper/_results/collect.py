"""Results as one table: [`collect`][phyper.collect] (a pandas DataFrame) and [`collect_rows`][phyper.collect_rows] (plain rows).

One row per instance, or per distinct hash of a resource, with every key, the
non-keys as the job that made the result recorded them, the hashes, whether the
result is complete (and why not), and the metrics a user-provided loader reads from
each complete folder.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from phyper._errors import MetricsLoaderError, MissingDependencyError, PipelineDefinitionError
from phyper._model.context import FULL_INSTANCE
from phyper._model.instance_list import InstanceList
from phyper._planning.pipeline import Pipeline
from phyper._planning.plan import Job, StepJobs
from phyper._planning.verdict import Verdicts
from phyper._state.records import Records, read_record
from phyper._state.store import LocalStateFolder, StateStore, default_state_folder

if TYPE_CHECKING:
    import pandas

    from phyper._model.parser import Parser
    from phyper._state.formats import CompletionRecord

__all__ = ["FolderWriters", "MetricsLoader", "collect", "collect_rows"]

MetricsLoader = Callable[[Any], "Mapping[str, Any] | None"]
"""Reads the metrics of one complete result: takes its instance, returns name -> value."""

BOOKKEEPING_COLUMNS = ("folder", "complete", "status")


def _latest_complete(
    records: list[tuple[Job, CompletionRecord | None]], verdicts: Verdicts | Records
) -> tuple[bool, str, dict[str, Any] | None]:
    """(all complete, reason, non-keys of the most recent complete record) for one folder's jobs.

    With the pipeline's ``verdicts``, a job is complete when nothing would run it again
    (what ``phyper status`` says); without (records checked against themselves), when
    its record checks out.
    """
    if not records:
        return False, "no completion record", None
    complete, reason = True, "complete"
    best: tuple[float, dict[str, Any]] | None = None
    for job, record in records:
        if isinstance(verdicts, Verdicts):
            verdict = verdicts.verdict(job)
            done, why = not verdict.to_run, verdict.reason
        else:
            status = verdicts.check(job)[0]
            done, why = status.complete, status.reason
        if not done:
            if complete:
                complete, reason = False, f"{job.id}: {why}"
            continue
        non_keys = record.non_keys if record else None
        finished = float(record.finished or 0.0) if record else 0.0
        if non_keys is not None and (best is None or finished >= best[0]):
            best = (finished, non_keys)
    return complete, reason, best[1] if best else None


class FolderWriters:
    """The jobs that write each hashed folder, and their records.

    The one answer to "which jobs write this folder" (``collect``, the report and
    ``phyper show`` ask it here).
    """

    def __init__(self, source: Pipeline | Sequence[Parser], root: str | None, verdicts: Verdicts | None) -> None:
        self.by_folder: dict[tuple[str, str], list[Job]] | None = None
        self.has_steps: set[str] = set()
        self.verdicts: Verdicts | None = None
        if isinstance(source, Pipeline):
            self.by_folder = {}
            self.verdicts = verdicts if verdicts is not None else Verdicts(source.plan())
            plan = self.verdicts.plan
            for job in plan:
                step = source.steps[job.step]
                if step.kind != "aggregate":
                    self.by_folder.setdefault((step.folder_resource, job.key), []).append(job)
                    self.has_steps.add(step.folder_resource)
            self.state: StateStore = source.state
        else:
            # no pipeline: the records of the default state folder, checked against themselves
            self.state = LocalStateFolder(default_state_folder(root or "."))
        self.checks: Verdicts | Records = self.verdicts if self.verdicts is not None else Records(self.state)
        self.steps = self.state.record_steps()

    def records(self, resource: str, key: str, folder: str) -> tuple[list[tuple[Job, CompletionRecord | None]], bool]:
        """(job, record or None) pairs of the jobs writing ``folder``, and whether any job should."""
        if self.by_folder is not None and self.verdicts is not None:
            jobs = self.by_folder.get((resource, key), [])
            read = self.verdicts.records.read  # the verdicts' own reads: a record is read once
            return [(job, read(job.record)[0]) for job in jobs], resource in self.has_steps
        found: list[tuple[Job, CompletionRecord | None]] = []
        prefix = os.path.join(os.path.normpath(folder), "")
        for step in self.steps:
            path = self.state.record_path(step, key)
            record = read_record(path) if os.path.isfile(path) else None
            if record is None:
                continue
            outputs = list(record.outputs)
            if not any(os.path.normpath(p).startswith(prefix) for p in outputs):
                continue
            inputs = list(record.inputs)
            found.append((StepJobs(step, self.state).job(key, inputs, outputs), record))
        return found, True


def collect_rows(
    instances_or_pipeline: Pipeline | Sequence[Parser],
    metrics: MetricsLoader | None = None,
    resource_name: str | None = None,
    *,
    skip_incomplete: bool = True,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows of [`collect`][phyper.collect], as plain Python values (no pandas needed)."""
    return rows_with_verdicts(instances_or_pipeline, metrics, resource_name, skip_incomplete=skip_incomplete)


def rows_with_verdicts(
    source: Pipeline | Sequence[Parser],
    metrics: MetricsLoader | None = None,
    resource_name: str | None = None,
    *,
    skip_incomplete: bool = True,
    verdicts: Verdicts | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """[`collect_rows`][phyper.collect_rows], judging completion with ``verdicts`` (over the pipeline's plan)
    when the caller already has them (the report), instead of planning again."""
    if metrics is None and isinstance(source, Pipeline):
        metrics = source.metrics_loader  # named once with pipeline.metrics(loader)
    instances: Sequence[Parser] = source.instances if isinstance(source, Pipeline) else source
    if len(instances) == 0:
        raise PipelineDefinitionError("collect() needs at least one instance (the list is empty)")
    first = instances[0]
    first._require_instance("collect()")
    shared = first._phyper_shared
    shared.check_resource(resource_name)
    schema = shared.schema
    keys = list(shared.dependencies(resource_name))
    key_set = set(keys)
    resources = [
        name for name, deps in shared.resources.items() if name != resource_name and set(deps) <= key_set
    ]
    hash_column = f"{resource_name}_hash" if resource_name else "hash"
    columns = [hash_column, *keys, *schema.non_keys, *(f"{name}_hash" for name in resources), *BOOKKEEPING_COLUMNS]
    index = instances.hash_index(resource_name) if isinstance(instances, InstanceList) else InstanceList(instances).hash_index(resource_name)
    writers = FolderWriters(source, shared.folder, verdicts)
    folder_name = resource_name or FULL_INSTANCE
    rows: list[dict[str, Any]] = []
    metric_columns: list[str] = []
    for resource_hash, instance in index.items():
        folder = instance.get_resources_path(resource_name)
        records, written = writers.records(folder_name, resource_hash, folder)
        if not written:
            complete, reason, non_keys = False, "no step of the pipeline writes this folder", None
        else:
            complete, reason, non_keys = _latest_complete(records, writers.checks)
        values = instance.to_dict()
        row: dict[str, Any] = {hash_column: resource_hash}
        row.update((name, values[name]) for name in keys)
        row.update((name, (non_keys or {}).get(name)) for name in schema.non_keys)
        row.update((f"{name}_hash", instance.get_instance_hash(name)) for name in resources)
        row.update(folder=folder, complete=complete, status=reason)
        if metrics is not None and (complete or not skip_incomplete):
            loaded = metrics(instance)
            if loaded is not None and not isinstance(loaded, Mapping):
                raise MetricsLoaderError(
                    f"the metrics loader {getattr(metrics, '__name__', metrics)!r} returned a "
                    f"{type(loaded).__name__} for {folder}; it must return a dict of metric name -> value"
                )
            for name, value in (loaded or {}).items():
                if name in columns:
                    raise MetricsLoaderError(
                        f"the metrics loader returned `{name}`, which is already a column of the "
                        "table (a hyperparameter, a hash or bookkeeping); rename the metric"
                    )
                if name not in metric_columns:
                    metric_columns.append(name)
                row[name] = value
        rows.append(row)
    all_columns = columns + metric_columns
    for row in rows:
        for name in metric_columns:
            row.setdefault(name, None)
    return all_columns, rows


def collect(
    instances_or_pipeline: Pipeline | Sequence[Parser],
    metrics: MetricsLoader | None = None,
    resource_name: str | None = None,
    *,
    skip_incomplete: bool = True,
) -> pandas.DataFrame:
    """Every result as one tidy pandas DataFrame.

    One row per instance (``resource_name=None``) or per distinct hash of a resource.
    Columns, in order: the hash (``hash``, or ``<resource>_hash``); every key the row
    depends on; every non-key, as recorded by the job that made the result (None
    while there is no complete result); the hashes of the registered resources the
    row determines (``<resource>_hash``, handy for ``groupby``); ``folder``;
    ``complete`` and ``status`` (the reason when not complete); then the metrics.

    Args:
        instances_or_pipeline: a [`phyper.Pipeline`][phyper.Pipeline] (completion is judged by its
            plan), or a list of instances (completion is judged by the records under
            ``<hashed_resources_folder>/.phyper``).
        metrics: ``loader(instance) -> dict`` reading one result's metrics from its
            folder; called only for complete results (incomplete rows get None).
            Default: the pipeline's own loader ([`phyper.Pipeline.metrics`][phyper.Pipeline.metrics]).
        resource_name: one row per hash of this resource instead of per instance.
        skip_incomplete: call the loader for complete results only (the default). False
            calls it for every row: for steps whose engine already guarantees the
            results exist but that keep no completion records (a hand-written Snakefile).

    Raises:
        MissingDependencyError: pandas is not installed.
        MetricsLoaderError: the loader returned something that is not a dict, or a
            name that is already a column.

    Example:

    ```python
    def accuracy(instance):
        with open(get_metrics_path(instance)) as handle:
            return json.load(handle)

    table = phyper.collect(pipeline, metrics=accuracy)
    table.groupby("cross_validated_model_hash")["accuracy"].mean()
    ```
    """
    try:
        pd = importlib.import_module("pandas")
    except ImportError:
        raise MissingDependencyError(
            "collect() returns a pandas DataFrame and pandas is not installed; install it with "
            "`pip install pandas` (or use phyper.collect_rows, or `phyper collect -o results.csv`)"
        ) from None
    columns, rows = collect_rows(instances_or_pipeline, metrics, resource_name, skip_incomplete=skip_incomplete)
    return cast("pandas.DataFrame", pd.DataFrame(rows, columns=columns))
