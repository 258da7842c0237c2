"""One self-contained HTML page of a grid: [`report`][phyper.report] (``phyper report``).

The page works offline from ``file://``: the data, the styles, the page's script,
plotly.js (read from the installed ``plotly`` package, the ``phyper-core[report]``
extra) and the pipeline's own figures are all inline; nothing is fetched.

What it shows, all computed here from what phyper already knows:

* an overview: grid size, the keys that vary and their values, the resources and
  their counts, the steps as a graph (an SVG drawn here) with complete / to run /
  failed counts;
* the verdict on every job (what ``phyper status`` says), each failed job with its
  error line;
* one row per instance (or per hash of a resource, ``group_by=``): keys, the non-keys
  each result was made with, the metrics the pipeline named (``pipeline.metrics``);
  the page sorts, filters, paginates and groups it by a resource;
* a parallel-coordinates plot of the keys and a metric, and per key the metric's
  spread per value;
* run time per step and per job from the job log, what is stale (non-key drift,
  older code), and the PNG/SVG outputs of the steps.

The page's script lives in ``report_page.html`` next to this module; the data goes
in as one JSON document.
"""

from __future__ import annotations

import base64
import datetime
import html
import importlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from phyper._errors import MissingDependencyError, PipelineDefinitionError, UnknownResourceError, did_you_mean
from phyper._fs import atomic_write_text
from phyper._planning.keys import AGGREGATE_KEY
from phyper._planning.pipeline import Pipeline
from phyper._state.store import LogEntry, Outcome

if TYPE_CHECKING:
    from phyper._model.parser import Parser
    from phyper._planning.plan import Plan

__all__ = ["REPORT_INSTALL", "report", "steps_svg"]

REPORT_INSTALL = "pip install 'phyper-core[report]'"
"""The command that installs what [`report`][phyper.report] needs (plotly)."""

FIGURE_SUFFIXES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
MAX_FIGURES = 24
"""Figures embedded at most (a per-instance plot step would otherwise embed thousands)."""
MAX_FIGURE_BYTES = 4_000_000
"""Bytes of figures embedded at most (the page must stay small enough to open)."""
SHORT_HASH = 8
MAX_PENDING_ROWS = 20_000
"""Jobs to run listed at most (failed ones always are): the counts per step cover the rest."""


def _plotly_js() -> str:
    try:
        offline = importlib.import_module("plotly.offline")
    except ImportError:
        raise MissingDependencyError(
            f"phyper report draws its plots with plotly, which is not installed; install it with `{REPORT_INSTALL}`"
        ) from None
    return str(offline.get_plotlyjs())


def _page_template() -> str:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report_page.html")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _plain(value: Any) -> Any:
    """A value JSON can hold and JavaScript can read (NaN and infinities become None)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars from a metrics loader
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value)


def _marker(value: Any) -> Any:
    """A value as JSON tells values apart (``1``, ``1.0``, ``true`` and ``"1"`` differ), hashable and cheap."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return (type(value), value)
    return json.dumps(value, sort_keys=True)


def _mean(values: list[Any]) -> Any:
    numbers = [value for value in values if isinstance(value, (int, float)) and not isinstance(value, bool)]
    numbers = [value for value in numbers if math.isfinite(value)]
    if numbers and len(numbers) == len([value for value in values if value is not None]):
        return sum(numbers) / len(numbers)
    distinct = {_marker(_plain(value)) for value in values}
    return values[0] if len(distinct) == 1 else None


# -- the steps as a graph -------------------------------------------------------------------


def steps_svg(steps: Sequence[Mapping[str, Any]]) -> str:
    """The steps as an inline SVG: one box per step (name, kind, counts), arrows upstream -> downstream.

    Each item of ``steps`` has ``name``, ``kind``, ``resource``, ``upstream`` (names),
    ``jobs``, ``complete``, ``to_run`` and ``failed``. Steps are placed in columns by
    their longest distance from a step with nothing upstream.
    """
    depth: dict[str, int] = {}
    for step in steps:  # plan order is topological: upstream steps come first
        depth[step["name"]] = 1 + max((depth.get(name, -1) for name in step["upstream"]), default=-1)
    columns: dict[int, list[str]] = {}
    for step in steps:
        columns.setdefault(depth[step["name"]], []).append(step["name"])
    width, height, gap_x, gap_y, margin = 180, 70, 40, 20, 12
    position = {
        name: (margin + column * (width + gap_x), margin + row * (height + gap_y))
        for column, names in columns.items()
        for row, name in enumerate(names)
    }
    total_width = margin * 2 + (max(columns, default=0) + 1) * (width + gap_x) - gap_x
    total_height = margin * 2 + max((len(names) for names in columns.values()), default=1) * (height + gap_y) - gap_y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="steps-graph" width="{total_width}" '
        f'height="{total_height}" viewBox="0 0 {total_width} {total_height}" role="img" '
        'aria-label="the steps of the pipeline">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>',
    ]
    for step in steps:
        x2, y2 = position[step["name"]]
        for name in step["upstream"]:
            if name not in position:
                continue
            x1, y1 = position[name]
            start, end = (x1 + width, y1 + height / 2), (x2, y2 + height / 2)
            middle = (start[0] + end[0]) / 2
            parts.append(
                f'<path class="edge" d="M {start[0]} {start[1]} C {middle} {start[1]}, {middle} {end[1]}, '
                f'{end[0] - 2} {end[1]}" fill="none" stroke="#777" stroke-width="1.5" marker-end="url(#arrow)"/>'
            )
    for step in steps:
        x, y = position[step["name"]]
        state = "failed" if step["failed"] else "to-run" if step["to_run"] else "complete"
        kind = step["kind"] if not step["resource"] else f"per {step['resource']}"
        counts = f"{step['complete']}/{step['jobs']} complete"
        detail = []
        if step["to_run"]:
            detail.append(f"{step['to_run']} to run")
        if step["failed"]:
            detail.append(f"{step['failed']} failed")
        parts.append(
            f'<g class="step {state}" data-step="{html.escape(step["name"])}" data-complete="{step["complete"]}" '
            f'data-to-run="{step["to_run"]}" data-failed="{step["failed"]}">'
            f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="8"/>'
            f'<text x="{x + 10}" y="{y + 20}" class="name">{html.escape(step["name"])}</text>'
            f'<text x="{x + 10}" y="{y + 38}" class="kind">{html.escape(kind)}</text>'
            f'<text x="{x + 10}" y="{y + 58}" class="counts">{html.escape(counts)}'
            + (f' <tspan class="bad">· {html.escape(", ".join(detail))}</tspan>' if detail else "")
            + "</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


# -- collecting what the page shows ---------------------------------------------------------


def _columnar(names: list[str], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [_plain(row.get(name)) for row in rows] for name in names}


def _group_rows(
    rows: list[dict[str, Any]], resource: str, keys: list[str], non_keys: list[str], metrics: list[str]
) -> list[dict[str, Any]]:
    """One row per hash of ``resource``: its keys, the mean of each metric over its instances."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[f"{resource}_hash"], []).append(row)
    grouped = []
    for resource_hash, members in groups.items():
        row = {f"{resource}_hash": resource_hash, "instances": len(members)}
        row.update((name, members[0][name]) for name in keys)
        row.update((name, _mean([member[name] for member in members])) for name in non_keys)
        row["complete"] = sum(1 for member in members if member["complete"])
        row["status"] = "complete" if row["complete"] == len(members) else f"{len(members) - row['complete']} not complete"
        row.update((name, _mean([member[name] for member in members if member[name] is not None])) for name in metrics)
        grouped.append(row)
    return grouped


def _job_times(log: Iterable[LogEntry]) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """(per step figures, per job columns) from the job log: the last attempt of each job."""
    last: dict[str, LogEntry] = {}
    attempts: Counter[str] = Counter()
    for entry in log:
        if not entry.attempted:
            continue
        attempts[entry.id] += 1
        last[entry.id] = entry
    per_step: dict[str, list[float]] = {}
    jobs: dict[str, list[Any]] = {
        name: [] for name in ("step", "hash", "status", "duration_s", "started", "engine", "host", "scheduler_job_id",
                              "devices", "attempts", "error")
    }
    for job_id, entry in last.items():
        duration = entry.duration
        if duration is not None and entry.outcome is Outcome.DONE:
            per_step.setdefault(entry.step, []).append(duration)
        jobs["step"].append(entry.step)
        jobs["hash"].append(entry.key[:SHORT_HASH] if entry.key != AGGREGATE_KEY else AGGREGATE_KEY)
        jobs["status"].append(entry.status)
        jobs["duration_s"].append(_plain(round(duration, 3)) if duration is not None else None)
        jobs["started"].append(
            datetime.datetime.fromtimestamp(entry.started).isoformat(timespec="seconds")
            if entry.started is not None else None
        )
        jobs["engine"].append(_plain(entry.text("engine")))
        jobs["host"].append(_plain(entry.text("host")))
        jobs["scheduler_job_id"].append(_plain(entry.text("scheduler_job_id")))
        devices = entry.fields.get("devices")  # the GPUs phyper gave the job (CUDA_VISIBLE_DEVICES), if any
        jobs["devices"].append(",".join(map(str, devices)) if isinstance(devices, list) and devices else None)
        jobs["attempts"].append(attempts[job_id])
        jobs["error"].append(_plain(entry.error))
    steps = [
        {"step": step, "jobs": len(durations), "total_s": round(sum(durations), 3),
         "mean_s": round(sum(durations) / len(durations), 3), "max_s": round(max(durations), 3)}
        for step, durations in per_step.items()
    ]
    return steps, jobs


def _figures(plan: Plan) -> tuple[list[dict[str, str]], int]:
    """The PNG/SVG outputs of the steps that exist, as data URIs (at most MAX_FIGURES), and how many were left out."""
    figures: list[dict[str, str]] = []
    left_out = 0
    size = 0
    for job in plan:
        for path in job.outputs:
            mime = FIGURE_SUFFIXES.get(os.path.splitext(path)[1].lower())
            if mime is None or not os.path.isfile(path):
                continue
            if len(figures) >= MAX_FIGURES or size + os.path.getsize(path) > MAX_FIGURE_BYTES:
                left_out += 1
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            size += len(data)
            figures.append({"step": job.step, "path": path,
                            "src": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"})
    return figures, left_out


def _page_data(
    source: Pipeline | Sequence[Parser],
    metrics: Callable[[Any], Mapping[str, Any] | None] | None,
    group_by: str | None,
    title: str | None,
) -> dict[str, Any]:
    from phyper._planning.verdict import SummaryFold, Verdicts, describe_changes, describe_failure
    from phyper._results.collect import BOOKKEEPING_COLUMNS, rows_with_verdicts
    from phyper._running.runner import RUNNING_JOB_VARIABLE

    pipeline = source if isinstance(source, Pipeline) else None
    instances = source.instances if isinstance(source, Pipeline) else source
    if len(instances) == 0:
        raise PipelineDefinitionError("report() needs at least one instance (the list is empty)")
    first = instances[0]
    first._require_instance("report()")
    shared = first._phyper_shared
    if group_by is not None and group_by not in shared.resources:
        raise UnknownResourceError(
            f"report(group_by={group_by!r}): no resource `{group_by}`{did_you_mean(group_by, shared.resources)} "
            f"(resources: {', '.join(shared.resources) or 'none registered'})"
        )
    if metrics is None and pipeline is not None:
        metrics = pipeline.metrics_loader
    # one plan and one set of verdicts for the results table and the status below
    verdicts = Verdicts(pipeline.plan(), remember=True) if pipeline is not None else None
    columns, rows = rows_with_verdicts(source, metrics, verdicts=verdicts)
    schema = shared.schema
    keys = list(first.key_names())
    non_keys = list(schema.non_keys)
    resources = {name: list(deps) for name, deps in shared.resources.items()}
    resource_columns = [f"{name}_hash" for name in resources]
    known = {"hash", *keys, *non_keys, *resource_columns, *BOOKKEEPING_COLUMNS}
    metric_names = [name for name in columns if name not in known]

    values: dict[str, list[Any]] = {name: [] for name in keys}
    seen: dict[str, set[str]] = {name: set() for name in keys}
    for row in rows:
        for name in keys:
            marker = _marker(_plain(row[name]))
            if marker not in seen[name]:
                seen[name].add(marker)
                values[name].append(_plain(row[name]))
    varying = [name for name in keys if len(values[name]) > 1]
    counts = {name: len({row[f"{name}_hash"] for row in rows}) for name in resources}
    current = first.to_dict()

    overview: dict[str, Any] = {
        "instances": len(instances),
        "keys": keys,
        "varying": {name: values[name] for name in varying},
        "constant": {name: values[name][0] for name in keys if name not in varying},
        "non_keys": {name: _plain(current[name]) for name in non_keys},
        "resources": [{"name": name, "dependencies": deps, "count": counts[name]} for name, deps in resources.items()],
        "folder": shared.folder,
    }
    data: dict[str, Any] = {
        "title": title or "phyper report",
        "generated": datetime.datetime.now().isoformat(timespec="seconds"),
        "overview": overview,
        "metrics": metric_names,
        "group_by": group_by,
        "has_pipeline": pipeline is not None,
        "searches": _search_sections(pipeline),
    }

    # the table: one row per instance, or per hash of group_by (the 100k-instance case)
    for row in rows:
        row["hash"] = str(row["hash"])[:SHORT_HASH]
        for column in resource_columns:
            row[column] = str(row[column])[:SHORT_HASH]
    if group_by is not None:
        group_keys = list(shared.dependencies(group_by))
        table_rows = _group_rows(rows, group_by, group_keys, non_keys, metric_names)
        table_columns = [f"{group_by}_hash", "instances", *group_keys, *non_keys, "complete", "status", *metric_names]
        key_columns = group_keys
    else:
        table_rows = rows
        table_columns = ["hash", *keys, *non_keys, *resource_columns, "complete", "status", *metric_names]
        key_columns = keys
    data["table"] = {
        "columns": table_columns,
        "keys": key_columns,
        "varying": [name for name in key_columns if name in varying],
        "non_keys": non_keys,
        "resources": {name: deps for name, deps in resources.items() if f"{name}_hash" in table_columns},
        "data": _columnar(table_columns, table_rows),
        "rows": len(table_rows),
    }

    if pipeline is None or verdicts is None:  # a list of instances: no plan, no status
        data["steps"], data["status"], data["stale"] = [], None, None
        data["times"] = {"steps": [], "jobs": {}}
        data["figures"], data["figures_left_out"] = [], 0
        return data

    plan = verdicts.plan
    # counted by the one fold of verdicts (what phyper status and ls count); the rows listed here
    fold = SummaryFold(0)
    for step in plan.steps:
        fold.add_step(step.name)
    pending: dict[str, list[Any]] = {name: [] for name in ("step", "hash", "state", "reason")}
    rerun_failed: dict[str, list[Any]] = {name: [] for name in ("step", "hash", "failure")}
    stale: dict[str, list[Any]] = {name: [] for name in ("step", "hash", "non_keys", "code", "packages")}
    pending_left_out = 0
    # a report written by a step: that job is running now and this page is its result, so
    # it counts as complete (the page is read once the job is done), named on the page
    running = os.environ.get(RUNNING_JOB_VARIABLE)
    writer: dict[str, str] | None = None
    for verdict in verdicts:
        job = verdict.job
        short = job.key[:SHORT_HASH] if job.key != AGGREGATE_KEY else AGGREGATE_KEY
        if running == job.id:
            writer = {"step": job.step, "hash": short}
            fold.add(job.step, job.id, None, False, "complete", False)
            continue
        fold.add_verdict(verdict)
        if verdict.to_run and not verdict.failed and len(pending["step"]) >= MAX_PENDING_ROWS:
            pending_left_out += 1
        elif verdict.to_run:
            pending["step"].append(job.step)
            pending["hash"].append(short)
            pending["state"].append("failed" if verdict.failed else "to run")
            pending["reason"].append(verdict.reason)
        elif verdict.last_failure is not None:
            rerun_failed["step"].append(job.step)
            rerun_failed["hash"].append(short)
            rerun_failed["failure"].append(describe_failure(job, verdict.last_failure))
        code_changes = verdict.code_changes or ()
        if verdict.non_key_changes or code_changes or verdict.package_changes:
            stale["step"].append(job.step)
            stale["hash"].append(short)
            stale["non_keys"].append(describe_changes(verdict.non_key_changes))
            stale["code"].append(", ".join(code_changes))
            stale["packages"].append(
                ", ".join(f"{name} {old} (now {new})" for name, (old, new) in sorted(verdict.package_changes.items()))
            )
    summary = fold.summary()
    steps = []
    for step in plan.steps:
        count = summary.steps[step.name]
        steps.append({
            "name": step.name, "kind": step.kind, "resource": step.resource_name, "upstream": list(step.upstream),
            "doc": step.doc, "jobs": count.total, "complete": count.total - count.to_run,
            "to_run": count.to_run, "failed": count.failed, "rerun_failed": count.rerun_failed,
        })
    data["steps"] = steps
    overview["graph"] = steps_svg(steps)
    data["status"] = {"jobs": sum(count.total for count in summary.steps.values()), "to_run": summary.pending_total,
                      "failed": sum(count.failed for count in summary.steps.values()), "pending": pending,
                      "left_out": pending_left_out, "writer": writer, "rerun_failed": rerun_failed}
    data["stale"] = stale
    step_times, job_times = _job_times(pipeline.state.iter_log())
    data["times"] = {"steps": step_times, "jobs": job_times}
    data["figures"], data["figures_left_out"] = _figures(plan)
    return data


def _search_sections(pipeline: Pipeline | None) -> list[dict[str, Any]]:
    """Per search of the pipeline: its trials in order, the best so far, the searched keys.

    The trials and their best come from `phyper._search.driver.search_trials`, as
    ``phyper search show`` lists them (stale ones marked).
    """
    if pipeline is None or not pipeline.searches:
        return []
    from phyper._search.driver import search_trials

    sections = []
    for search in pipeline.searches:
        trials = search_trials(pipeline, search)
        keys = list(trials.keys)
        columns = ["number", *keys, "state", "objective", "hash", "stale"]
        rows = [{**row.to_json(), "hash": row.hash[:SHORT_HASH]} for row in trials.trials]
        best = trials.best
        sections.append({
            "name": search.name, "objective": search.objective, "direction": search.direction, "keys": keys,
            "space": {key: dimension.describe() for key, dimension in search.space.items()},
            "sampler": search.sampler, "trials": _columnar(columns, [{k: _plain(r[k]) for k in columns} for r in rows]),
            "count": len(rows), "best_so_far": trials.best_so_far(), "best": best.to_json() if best is not None else None,
            "best_current": trials.best_current.to_json() if trials.best_current is not None else None,
        })
    return sections


def _script_json(data: Any) -> str:
    # inside <script>, "</" would end the element early: JSON allows "<\/" for "</"
    return json.dumps(data, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def report(
    pipeline_or_instances: Pipeline | Sequence[Parser],
    path: str | os.PathLike[str],
    *,
    metrics: Callable[[Any], Mapping[str, Any] | None] | None = None,
    group_by: str | None = None,
    title: str | None = None,
) -> str:
    """Write one self-contained HTML page of the grid's results and state to ``path``.

    The page works offline (opened from ``file://``, nothing fetched): overview,
    status of every job, results table (sort, filter, group by a resource), parallel
    coordinates of the keys and a metric, the metric's spread per key value, run
    times, stale results and the pipeline's figures. See ``docs/reports.md``.

    Args:
        pipeline_or_instances: a [`phyper.Pipeline`][phyper.Pipeline] (everything above), or a
            list of instances (the table only, from the records of the default state
            folder).
        path: the HTML file to write (its folder is created); written atomically.
        metrics: ``loader(instance) -> dict``; default: the pipeline's
            ([`phyper.Pipeline.metrics`][phyper.Pipeline.metrics]).
        group_by: one row per hash of this resource (the mean of each metric over its
            instances) instead of one per instance: for grids too large for one row
            per instance (100,000 instances and more).
        title: the page's title (default ``phyper report``).

    Returns:
        The path written.

    Raises:
        MissingDependencyError: plotly is not installed (``pip install 'phyper-core[report]'``).
        UnknownResourceError: ``group_by`` names no registered resource.
        MetricsLoaderError: the metrics loader returned something that is not a dict.

    Example:

    ```python
    pipeline.metrics(read_accuracy)
    phyper.report(pipeline, "derived_data/results/report.html")
    ```
    """
    plotly_js = _plotly_js()  # first: a missing extra is reported before any work
    data = _page_data(pipeline_or_instances, metrics, group_by, title)
    page = _page_template()
    page = page.replace("{{title}}", html.escape(data["title"]))
    # the data and the library are substituted last, each once: their text is not scanned again
    head, _, tail = page.partition("/*PHYPER_DATA*/")
    middle, _, end = tail.partition("/*PLOTLY_JS*/")
    text = "".join((head, _script_json(data), middle, plotly_js, end))
    target = os.fspath(path)
    folder = os.path.dirname(target)
    if folder:
        os.makedirs(folder, exist_ok=True)
    atomic_write_text(target, text)
    return target
