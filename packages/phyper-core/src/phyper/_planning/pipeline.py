"""Declaring a pipeline's steps once, independent of any workflow engine.

A step is a function plus the files it reads and writes, named through the user's
path functions. Three granularities:

* ``per_resource(name)``: one job per distinct hash of a registered resource; the
  function gets one (representative) instance;
* ``per_instance()``: one job per full instance;
* ``aggregate()``: one job over all instances; the function gets the list.

A path function with one parameter takes an instance; one with none names a single
file (for example an aggregate's output). Which step feeds which follows from the
files: see `phyper._planning.plan`.

Every step may also say what one of its jobs needs, engine-free: ``threads`` (CPU
cores, default 1), ``mem_mb`` (memory in megabytes) and ``runtime`` (wall time in
minutes). Engines that schedule resources (Snakemake, and through it a cluster) size
each job with them; see [`Step`][phyper.Step].
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from phyper._errors import PipelineDefinitionError, UnknownStepError, did_you_mean
from phyper._model.instance_list import InstanceList, get_instance_from_hash
from phyper._planning.code_store import StepCodes
from phyper._planning.declaration import PathFunction, Step, StepKind
from phyper._planning.keys import AGGREGATE_KEY, is_batch_key
from phyper._planning.settings import check_gpus
from phyper._state.store import LocalStateFolder, StateStore, default_state_folder

if TYPE_CHECKING:
    from phyper._model.parser import Parser
    from phyper._planning.plan import Plan
    from phyper._search.space import Search

__all__ = ["AGGREGATE_KEY", "AggregateArguments", "Pipeline", "Step", "StepArguments", "StepOptions"]


def _arity(function: PathFunction, step: str) -> int:
    import inspect  # only when steps are declared: engines import phyper on every start

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise PipelineDefinitionError(f"step `{step}`: {function!r} is not a path function") from None
    required = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) > 1:
        raise PipelineDefinitionError(
            f"step `{step}`: path function {function.__name__} takes {len(required)} arguments; "
            "a path function takes one instance, or nothing for a single file"
        )
    return len(required)


# what each resource counts, and an example value, for error messages
_RESOURCE_UNITS = {"threads": ("CPU cores", 2), "mem_mb": ("megabytes", 2000), "runtime": ("minutes", 30)}


def _differ(value: object, other: object) -> bool:
    """Whether two key values are different values for phyper (``True`` is not ``1``: their hashes differ)."""
    return type(value) is not type(other) or value != other


def _positive(step: str, resource: str, value: object) -> int:
    # bool is an int subclass: threads=True is a mistake, not one thread
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        unit, example = _RESOURCE_UNITS[resource]
        raise PipelineDefinitionError(
            f"step `{step}`: {resource}={value!r} must be a positive whole number of {unit} "
            f"(for example {resource}={example})"
        )
    return value


class AggregateArguments(TypedDict, total=False):
    """The keyword options of [`Pipeline.aggregate`][phyper.Pipeline.aggregate] (see `StepOptions`)."""

    inputs: Sequence[PathFunction]
    name: str | None
    threads: int
    mem_mb: int | None
    runtime: int | None
    gpus: float | None
    track_code: bool


class StepArguments(AggregateArguments, total=False):
    """The keyword options of ``per_resource``, ``per_instance`` and ``add_step`` (see `StepOptions`).

    For type checkers and editors only (``**options: Unpack[StepArguments]``): the
    defaults and the checks are `StepOptions`', and a test holds the two to the same names.
    """

    batch: int | None
    continues: str | None


@dataclass(frozen=True)
class StepOptions:
    """A step's options, declared once: every step decorator and ``add_step`` take them as keywords.

    `StepOptions.of` builds them from the keywords and checks each value once; adding
    an option is a field here (with its check in `of`) and its line in `StepArguments`.

    Attributes:
        name: the step's name (default: the function's name).
        inputs: path functions of the files each job reads (besides other steps' outputs,
            any file: data the user provides).
        threads: CPU cores one job uses (default 1).
        mem_mb: memory one job needs, in megabytes (default: the engine's or cluster
            profile's default).
        runtime: wall time one job needs, in minutes (default: as ``mem_mb``).
        gpus: GPUs one job needs: a whole number of devices, or a share of one below 1
            (``0.25``: four such jobs share a device); default none. ``PHYPER_STEP_GPUS``
            changes it for one run; phyper hands the devices out machine-wide and sets
            ``CUDA_VISIBLE_DEVICES`` (see ``docs/gpus.md``).
        batch: about this many jobs per engine job (see `phyper._planning.batches`); None or 0: one each.
        track_code: False leaves this step's code out of the verdict (a result made by
            older code counts as complete); see `phyper._planning.code`.
        continues: a key of the step's subject (``'n_epochs'``) whose lower values the
            step can continue from: see [`phyper.continued_from`][phyper.continued_from]
            and ``docs/pipelines.md`` ("Continuing from a lower budget").
    """

    name: str
    inputs: tuple[PathFunction, ...] = ()
    threads: int = 1
    mem_mb: int | None = None
    runtime: int | None = None
    gpus: float | int | None = None
    batch: int | None = None
    track_code: bool = True
    continues: str | None = None

    @classmethod
    def of(
        cls, function: Callable[..., Any], kind: StepKind, resource_name: str | None, options: Mapping[str, Any]
    ) -> StepOptions:
        """The options of a step of ``kind`` declared with the keywords ``options``, each checked.

        Raises:
            PipelineDefinitionError: an unknown option (with the closest known one), a name
                that is not an identifier, or a value that is not allowed (the message names it).
        """
        known = [field.name for field in fields(cls)]
        step_name = options.get("name") or getattr(function, "__name__", "step")
        for option in options:
            if option not in known:
                raise PipelineDefinitionError(
                    f"step `{step_name}`: unknown option {option}={options[option]!r}{did_you_mean(option, known)} "
                    f"(options: {', '.join(known)})"
                )
        if not isinstance(step_name, str) or not step_name.isidentifier():
            raise PipelineDefinitionError(f"step name {step_name!r} must be a Python identifier")
        batch = options.get("batch")
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 0):
            raise PipelineDefinitionError(
                f"step `{step_name}`: batch={batch!r} must be a whole number of jobs per engine job "
                "(or None / 0 for one engine job per hash)"
            )
        single = {"batch": batch, "continues": options.get("continues")}
        for option, value in single.items():
            if value and kind == "aggregate":
                raise PipelineDefinitionError(
                    f"step `{step_name}` is an aggregate (a single job): {option}= applies to per_resource "
                    "and per_instance steps"
                )
        continues = options.get("continues")
        if continues is not None and not isinstance(continues, str):
            raise PipelineDefinitionError(
                f"step `{step_name}`: continues={continues!r} must name a key (for example continues='n_epochs')"
            )
        mem_mb, runtime = options.get("mem_mb"), options.get("runtime")
        return cls(
            name=step_name,
            inputs=tuple(options.get("inputs", ())),
            threads=_positive(step_name, "threads", options.get("threads", 1)),
            mem_mb=None if mem_mb is None else _positive(step_name, "mem_mb", mem_mb),
            runtime=None if runtime is None else _positive(step_name, "runtime", runtime),
            gpus=check_gpus(options.get("gpus"), f"step `{step_name}`: gpus"),
            batch=batch or None,
            track_code=bool(options.get("track_code", True)),
            continues=continues,
        )

    def step_fields(self) -> dict[str, Any]:
        """The options as [`Step`][phyper.Step]'s fields (every option is one of them)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def _check_continues(first: Any, step: str, kind: StepKind, resource_name: str | None, key: str) -> None:
    """Refuse a ``continues=`` that does not name a key of the step's subject.

    ``first``: an instance of the grid.

    Raises:
        PipelineDefinitionError: an aggregate, a non-key, an unknown name (with the
            closest one), or a key the step's resource does not depend on.
    """
    if kind == "aggregate":
        raise PipelineDefinitionError(
            f"step `{step}` is an aggregate (a single job): continues= applies to per_resource and per_instance steps"
        )
    keys, non_keys = first.key_names(), first.non_key_names()
    if key in non_keys:
        raise PipelineDefinitionError(
            f"step `{step}`: continues={key!r} names a non-key; a budget defines a result, so "
            f"declare `{key}` in a Parser subclass (a key) to continue from its lower values"
        )
    if key not in keys:
        raise PipelineDefinitionError(
            f"step `{step}`: continues={key!r} is not a hyperparameter{did_you_mean(key, [*keys, *non_keys])} "
            f"(keys: {', '.join(keys)})"
        )
    if resource_name is not None and key not in first.get_key_values(resource_name):
        raise PipelineDefinitionError(
            f"step `{step}`: continues={key!r}, but resource `{resource_name}` does not depend on `{key}`: "
            f"its jobs do not differ by it; add `{key}` to the resource's dependencies or continue in a "
            "step over a resource that has it"
        )


class Pipeline:
    """The steps of a pipeline over a list of instances, declared once for every engine.

    Example (``pipeline.py`` of the Iris example):

    ```python
    pipeline = phyper.Pipeline(instances)

    @pipeline.per_resource("transformed_data", outputs=[get_transformed_dataset_path])
    def transform_data(instance): ...

    @pipeline.per_instance(inputs=[get_preprocessed_dataset_path],
                           outputs=[get_torch_model_path, get_training_metrics_path])
    def train_model(instance): ...

    @pipeline.aggregate(inputs=[get_training_metrics_path],
                        outputs=[get_cross_validation_scores_path])
    def compute_cv_scores(instances): ...
    ```

    Args:
        instances: the instances of the grid (all from one parser).
        state_folder: where completion records and the job log live; default
            ``<hashed_resources_folder>/.phyper``.
        track_code: False leaves code out of the verdict for every step: a result
            made by older code then counts as complete (see ``docs/code-changes.md``).
        searches: the `phyper.Search` declarations over this grid; the
            instances of every trial they recorded join the grid's (see ``docs/searching.md``).
    """

    def __init__(
        self,
        instances: Sequence[Parser],
        *,
        state_folder: str | os.PathLike[str] | None = None,
        track_code: bool = True,
        searches: Sequence[Search] = (),
    ) -> None:
        if len(instances) == 0:
            raise PipelineDefinitionError("a pipeline needs at least one instance")
        self.instances: InstanceList[Any] = (
            instances if isinstance(instances, InstanceList) else InstanceList(instances)
        )
        first = self.instances[0]
        first._require_instance("Pipeline()")
        self._shared = first._phyper_shared
        if state_folder is None:
            if self._shared.folder is None:
                raise PipelineDefinitionError(
                    "the parser has no hashed_resources_folder; give one, or pass state_folder="
                )
            state_folder = default_state_folder(self._shared.folder)
        self.state_folder = os.fspath(state_folder)
        self.state: StateStore = LocalStateFolder(self.state_folder)
        """The state folder's owner: every path under it, its records, log, locks and code store."""
        self.codes = StepCodes(self.state)
        """The code each step is expected to have (what the verdicts compare records with)."""
        self.searches: tuple[Search, ...] = tuple(searches)
        """The searches over this grid; their recorded trials are among `instances`."""
        if self.searches:
            self._add_search_trials()
        self.steps: dict[str, Step] = {}
        self.track_code = track_code
        self._varying_keys: list[str] | None = None
        self.metrics_loader: Callable[[Any], Mapping[str, Any] | None] | None = None
        """What [`metrics`][phyper.Pipeline.metrics] named: ``phyper.collect``, ``phyper.report`` and the CLI use it."""

    def _add_search_trials(self) -> None:
        names = [search.name for search in self.searches]
        if len(set(names)) != len(names):
            raise PipelineDefinitionError(f"two searches share a name ({', '.join(names)}); give each a name=")
        for search in self.searches:
            if search.parser._phyper_shared is not self._shared:
                raise PipelineDefinitionError(
                    f"search `{search.name}` is over another parser than the grid's: give it the grid's parser"
                )
            search.bind(self.state)
        self.add_instances([instance for search in self.searches for instance in search.recorded_instances()])

    def add_instances(self, instances: Sequence[Any]) -> None:
        """Add instances to the grid (a search's trials); those already in it are left out."""
        known = set(self.instances.hash_index())
        new = []
        for instance in instances:
            full_hash = instance.get_instance_hash()
            if full_hash not in known:
                known.add(full_hash)
                new.append(instance)
        if new:
            self.instances = InstanceList([*self.instances, *new])
            self._varying_keys = None

    # -- declaring steps -----------------------------------------------------------

    def per_resource(
        self,
        resource_name: str,
        *,
        outputs: Sequence[PathFunction],
        **options: Unpack[StepArguments],
    ) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        """Decorator: one job per distinct hash of ``resource_name``.

        The options (``inputs``, ``name``, ``threads``, ``mem_mb``, ``runtime``, ``gpus``,
        ``batch``, ``track_code``, ``continues``) are [`StepOptions`][phyper.StepOptions]'
        fields; ``batch=N`` runs about ``N`` jobs per engine job (see `phyper._planning.batches`).
        """
        self._shared.check_resource(resource_name)
        return self._decorator("resource", resource_name, outputs, options)

    def per_instance(
        self,
        *,
        outputs: Sequence[PathFunction],
        **options: Unpack[StepArguments],
    ) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        """Decorator: one job per full instance (its full hash); options as in [`StepOptions`][phyper.StepOptions].

        ``batch=N`` runs about ``N`` of them per engine job (see `phyper._planning.batches`).
        """
        return self._decorator("instance", None, outputs, options)

    def aggregate(
        self,
        *,
        outputs: Sequence[PathFunction],
        **options: Unpack[AggregateArguments],
    ) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        """Decorator: one job over all instances; the function receives the list.

        Options as in [`StepOptions`][phyper.StepOptions] (an aggregate is one job: no
        ``batch``, no ``continues``).
        """
        return self._decorator("aggregate", None, outputs, options)

    def _decorator(
        self, kind: StepKind, resource_name: str | None, outputs: Sequence[PathFunction], options: Mapping[str, Any]
    ) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        def register(function: Callable[[Any], None]) -> Callable[[Any], None]:
            self.add_step(function, kind=kind, resource_name=resource_name, outputs=outputs, **options)
            return function

        return register

    def add_step(
        self,
        function: Callable[[Any], None],
        *,
        kind: StepKind,
        outputs: Sequence[PathFunction],
        resource_name: str | None = None,
        **options: Unpack[StepArguments],
    ) -> Step:
        """Add a step without a decorator (what the decorators call).

        Args:
            function: the step's function (an instance, or the list for an aggregate).
            kind: ``"resource"``, ``"instance"`` or ``"aggregate"``.
            outputs: the path functions of the files each job writes.
            resource_name: the resource of a ``"resource"`` step.
            **options: [`StepOptions`][phyper.StepOptions]' fields (``inputs``, ``name``,
                ``threads``, ``mem_mb``, ``runtime``, ``gpus``, ``batch``, ``track_code``,
                ``continues``), each validated once there.

        Raises:
            PipelineDefinitionError: a bad name, no outputs, a path function of the
                wrong arity, an unknown option, or an option's bad value (see
                [`StepOptions`][phyper.StepOptions]).
        """
        declared = StepOptions.of(function, kind, resource_name, options)
        step_name = declared.name
        if step_name in self.steps:
            raise PipelineDefinitionError(f"step `{step_name}` is declared twice; give one a name=")
        if not outputs:
            raise PipelineDefinitionError(
                f"step `{step_name}` declares no outputs: a job is complete when its outputs "
                "are written, so every step must name at least one"
            )
        output_arities = [_arity(function, step_name) for function in outputs]
        wanted = 0 if kind == "aggregate" else 1
        for output, arity in zip(outputs, output_arities):
            if arity != wanted:
                raise PipelineDefinitionError(
                    f"step `{step_name}` ({kind}): output path function {output.__name__} must take "
                    + ("no argument (an aggregate writes single files)" if wanted == 0 else
                       "one instance (each job writes its own files)")
                )
        if declared.continues is not None:
            _check_continues(self.instances[0], step_name, kind, resource_name, declared.continues)
        step = Step(
            kind=kind,
            resource_name=resource_name,
            function=function,
            outputs=tuple(outputs),
            input_arities=tuple(_arity(f, step_name) for f in declared.inputs),
            **declared.step_fields(),
        )
        self.steps[step_name] = step
        self.codes.add(step_name, function, track=self.track_code and declared.track_code)  # plain data: nothing computed
        return step

    def metrics(
        self, loader: Callable[[Any], Mapping[str, Any] | None]
    ) -> Callable[[Any], Mapping[str, Any] | None]:
        """Name the pipeline's metrics once; usable as a decorator (returns ``loader``).

        ``loader(instance)`` reads one complete result's metrics from its folder and
        returns ``{name: value}`` (or None). ``phyper.collect(pipeline)``,
        ``phyper.report(pipeline, path)``, ``phyper collect`` and ``phyper report`` use it
        when given no other loader.

        Raises:
            PipelineDefinitionError: ``loader`` is not callable.
        """
        if not callable(loader):
            raise PipelineDefinitionError(
                f"pipeline.metrics() takes a function instance -> dict of metrics, not a {type(loader).__name__}"
            )
        self.metrics_loader = loader
        return loader

    # -- looking things up -----------------------------------------------------------

    def step(self, name: str) -> Step:
        """The step called ``name``; an [`UnknownStepError`][phyper.UnknownStepError] if there is none."""
        try:
            return self.steps[name]
        except KeyError:
            raise UnknownStepError(
                f"the pipeline has no step `{name}`{did_you_mean(name, self.steps)} "
                f"(steps: {', '.join(self.steps)})"
            ) from None

    def subject(self, step: Step, key: str) -> Any:
        """What a job's function receives: the instance with hash ``key``, or the list."""
        if step.kind == "aggregate":
            if key != AGGREGATE_KEY:
                raise UnknownStepError(
                    f"step `{step.name}` is an aggregate: its only job key is `{AGGREGATE_KEY}`, not `{key}`"
                )
            return self.instances
        return get_instance_from_hash(key, self.instances, step.resource_name)

    def job_subjects(self, step: Step) -> dict[str, Any]:
        """Job key -> what the job's function receives, for every job of ``step``, in grid order."""
        if step.kind == "aggregate":
            return {AGGREGATE_KEY: self.instances}
        return self.instances.hash_index(step.resource_name)

    def varying_keys(self) -> list[str]:
        """The keys that take more than one value in the grid (what tells jobs apart).

        Values are told apart as their hashes tell them: ``True``, ``1`` and ``1.0`` are
        three values. ``phyper view`` names its links by these keys, and job labels show them.
        """
        if self._varying_keys is None:
            first = self.instances[0]
            names = first.key_names()
            position = {name: index for index, name in enumerate(first._phyper_shared.schema.names)}
            firsts = first._phyper_values
            constant = set(names)
            for instance in self.instances:
                values = instance._phyper_values
                for name in [name for name in constant if _differ(values[position[name]], firsts[position[name]])]:
                    constant.discard(name)
                if not constant:
                    break
            self._varying_keys = [name for name in names if name not in constant]
        return self._varying_keys

    def job_label(self, step_name: str, key: str) -> str:
        """A job named for people: step, the key values that vary in the grid, short hash.

        Example: ``train_model(transformation=log centering=True cv_fold=3) 3f2a1c9e``.
        """
        step = self.step(step_name)
        if step.kind == "aggregate" or is_batch_key(key):
            return f"{step_name}({key})"
        instance = self.subject(step, key)
        values = instance.get_key_values(step.resource_name)
        shown = " ".join(f"{name}={values[name]}" for name in self.varying_keys() if name in values)
        return f"{step_name}({shown}) {key[:8]}"

    def record_path(self, step_name: str, key: str) -> str:
        """Where the completion record of job (step, key) lives."""
        return self.state.record_path(step_name, key)

    def plan(self, *, cache: bool = False) -> Plan:
        """The jobs, their files and dependencies, as plain data (see [`Plan`][phyper.Plan]).

        A convenience for `phyper._planning.plan.build_plan` and
        `phyper._planning.plan_cache.cached_plan` (which see the pipeline only as a type, so
        the declaration stays below the plan in the import order).

        With ``cache=True`` (what the engines and ``phyper status`` use) the plan is
        read from the state folder when nothing it depends on changed, and stored there
        otherwise; see `phyper._planning.plan_cache` for what the cache key covers.
        """
        from phyper._planning.plan import build_plan
        from phyper._planning.plan_cache import cached_plan

        # a plan is many small long-lived objects: collecting cycles while making them only
        # rescans them (a tenth of an engine's start-up on a big grid); none are garbage
        collecting = gc.isenabled()
        gc.disable()
        try:
            return cached_plan(self) if cache else build_plan(self)
        finally:
            if collecting:
                gc.enable()
