"""Translating a phyper plan into the rules that ``pipeline.smk`` defines."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import phyper

__all__ = ["SNAKEFILE", "WILDCARD", "Rule", "SnakemakeWorkflow", "load"]

SNAKEFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline.smk")
"""The Snakefile to ``include:`` after ``phyper_workflow = load(...)``."""

WILDCARD = "hash"
"""The wildcard that holds a job's hash in every hashed rule."""

RESERVED_RULE_NAMES = frozenset({"all"})


@dataclass(frozen=True)
class Rule:
    """What one ``rule:`` in ``pipeline.smk`` receives for one step."""

    name: str
    output: list[str]
    input: Callable[[Any], list[str]] | list[str]
    command: str
    message: str
    is_hashed: bool
    threads: int = 1
    """The step's declared threads (Snakemake's ``threads:``)."""
    resources: dict[str, int] = field(default_factory=dict)
    """The step's declared ``mem_mb`` and ``runtime`` (Snakemake's ``resources:``)."""


class SnakemakeWorkflow:
    """A phyper pipeline seen as Snakemake rules."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.pipeline = phyper.load_pipeline(spec)
        self.plan = self.pipeline.plan()
        self.wildcard_pattern = phyper.HASH_PATTERN
        self.rules = [self._rule(step) for step in self.plan.steps]

    def _rule(self, step: phyper.PlannedStep) -> Rule:
        if step.name in RESERVED_RULE_NAMES:
            raise phyper.PipelineDefinitionError(
                f"a step cannot be called `{step.name}`: Snakemake's default target rule has that name"
            )
        # a plain string: Snakemake fills in {hash} per job (cheaper than a callable)
        key = "{" + WILDCARD + "}" if step.is_hashed else phyper.AGGREGATE_KEY
        placeholder = "PHYPER-JOB-KEY"
        command = shlex.join(phyper.job_command(self.spec, step.name, placeholder, engine="snakemake"))
        command = command.replace("{", "{{").replace("}", "}}").replace(placeholder, key)
        output = [template.replace(phyper.HASH_PLACEHOLDER, "{" + WILDCARD + "}") for template in step.output_templates]
        output.append(step.record_template.replace(phyper.HASH_PLACEHOLDER, "{" + WILDCARD + "}"))
        if step.is_hashed:
            jobs = self.plan.jobs

            def inputs(wildcards: Any, step_name: str = step.name) -> list[str]:
                return list(jobs[f"{step_name}:{getattr(wildcards, WILDCARD)}"].inputs)

            rule_input: Callable[[Any], list[str]] | list[str] = inputs
        else:
            rule_input = list(self.plan.job(step.name, phyper.AGGREGATE_KEY).inputs)
        where = f" {{wildcards.{WILDCARD}}}" if step.is_hashed else ""
        return Rule(
            step.name, output, rule_input, command, f"phyper {step.name}{where}: {step.doc}", step.is_hashed,
            step.threads, dict(step.resources),
        )

    @property
    def targets(self) -> list[str]:
        """Every output of every job: what the default target ``all`` asks for."""
        return self.plan.targets()


def load(spec: str) -> SnakemakeWorkflow:
    """Import the pipeline ``MODULE:ATTRIBUTE`` and translate its plan into rules."""
    return SnakemakeWorkflow(spec)
