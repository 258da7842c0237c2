"""What the plan reads of a pipeline: its steps, and the pipeline as an interface.

[`Step`][phyper.Step] is one declared step (a function and the path functions of its files);
`PipelineDeclaration` is what `phyper._planning.plan` and `phyper._planning.plan_cache`
need of a [`phyper.Pipeline`][phyper.Pipeline]. They sit below the pipeline so that the plan never
imports it: [`phyper.Pipeline.plan`][phyper.Pipeline.plan] calls down into the plan, nothing calls back up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from phyper._model.context import FULL_INSTANCE

if TYPE_CHECKING:
    from phyper._model.instance_list import InstanceList
    from phyper._planning.code_store import StepCodes
    from phyper._state.store import StateStore

__all__ = ["PathFunction", "PipelineDeclaration", "Step", "StepKind"]

StepKind = Literal["resource", "instance", "aggregate"]
PathFunction = Callable[..., "str | os.PathLike[str]"]


@dataclass(frozen=True)
class Step:
    """One declared step of a pipeline."""

    name: str
    kind: StepKind
    resource_name: str | None
    function: Callable[[Any], None]
    inputs: tuple[PathFunction, ...]
    outputs: tuple[PathFunction, ...]
    input_arities: tuple[int, ...]
    threads: int = 1
    mem_mb: int | None = None
    runtime: int | None = None
    gpus: float | int | None = None
    """GPUs one job needs as declared (a whole number, or a share of one device below 1);
    `phyper.gpu_needs` applies ``PHYPER_STEP_GPUS``."""
    batch: int | None = None
    """Jobs per engine job as declared (``batch=``); `phyper._planning.batches.batch_sizes` applies ``PHYPER_BATCH``."""
    track_code: bool = True
    """Whether a result made by older code of this step is rerun (see `phyper._planning.code`)."""
    continues: str | None = None
    """The key whose lower values a job can continue from (``continues=``; see `phyper._running.continuation`)."""

    @property
    def resources(self) -> dict[str, int]:
        """The declared ``mem_mb`` and ``runtime`` (minutes); undeclared ones are absent."""
        declared = {"mem_mb": self.mem_mb, "runtime": self.runtime}
        return {name: value for name, value in declared.items() if value is not None}

    @property
    def folder_resource(self) -> str:
        """The resource folder the step's jobs write to (``all`` for full instances)."""
        return self.resource_name or FULL_INSTANCE

    def input_paths(self, subject: Any) -> list[str]:
        """Input files of one job: ``subject`` is an instance, or the list for aggregates."""
        if self.input_arities == (1,) and self.kind != "aggregate":
            return [os.fspath(self.inputs[0](subject))]  # the common case, once per job of a grid
        paths: list[str] = []
        seen: set[str] = set()
        for function, arity in zip(self.inputs, self.input_arities):
            if arity == 0:
                candidates = [function()]
            elif self.kind == "aggregate":
                candidates = [function(instance) for instance in subject]
            else:
                candidates = [function(subject)]
            for candidate in candidates:
                path = os.fspath(candidate)
                if path not in seen:
                    seen.add(path)
                    paths.append(path)
        return paths

    def output_paths(self, subject: Any) -> list[str]:
        """Output files of one job (see `input_paths`)."""
        if self.kind == "aggregate":
            return [os.fspath(function()) for function in self.outputs]
        return [os.fspath(function(subject)) for function in self.outputs]


class PipelineDeclaration(Protocol):
    """What the plan reads of a pipeline (a [`phyper.Pipeline`][phyper.Pipeline] is one)."""

    @property
    def steps(self) -> dict[str, Step]:
        """The declared steps by name, in declaration order."""
        ...

    @property
    def state_folder(self) -> str:
        """Where completion records and the job log live."""
        ...

    @property
    def state(self) -> StateStore:
        """The state folder's owner."""
        ...

    @property
    def codes(self) -> StepCodes:
        """The code each step is expected to have."""
        ...

    @property
    def instances(self) -> InstanceList[Any]:
        """The instances of the grid."""
        ...

    def step(self, name: str) -> Step:
        """The step called ``name`` (an [`UnknownStepError`][phyper.UnknownStepError] if there is none)."""
        ...

    def subject(self, step: Step, key: str) -> Any:
        """What job (``step``, ``key``)'s function receives."""
        ...

    def job_subjects(self, step: Step) -> dict[str, Any]:
        """Job key -> what the job's function receives, for every job of ``step``, in grid order."""
        ...

    def record_path(self, step_name: str, key: str) -> str:
        """Where the completion record of job (``step_name``, ``key``) lives."""
        ...

    def job_label(self, step_name: str, key: str) -> str:
        """A job named for people."""
        ...
