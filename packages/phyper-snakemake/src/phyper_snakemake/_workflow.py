"""Translating a phyper plan into the rules that ``pipeline.smk`` defines."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
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
    wildcard_pattern: str = phyper.HASH_PATTERN
    """What the ``hash`` wildcard matches: a hash, or a batch key for a batched step."""


class SnakemakeWorkflow:
    """A phyper pipeline seen as Snakemake rules."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.pipeline = phyper.load_pipeline(spec)
        self.plan = self.pipeline.plan()
        self.wildcard_pattern = phyper.HASH_PATTERN
        self.rules = [self._rule(step) for step in self.plan.steps]
        self._remove_invalid_batch_records()

    def _remove_invalid_batch_records(self) -> None:
        # a batch rule's only output is the batch record: when phyper finds a member
        # incomplete (its folder deleted, say), the record must go so Snakemake reruns
        # the batch, which then runs only the incomplete members
        for job in self.plan.batches.values():
            if os.path.exists(job.record) and not self.plan.status(job).complete:
                os.remove(job.record)

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
        # a batched step's rule makes batch jobs: its output is the batch record alone (the
        # members' files are the batch's business), its wildcard a batch key
        templates = () if step.is_batched else step.output_templates
        output = [template.replace(phyper.HASH_PLACEHOLDER, "{" + WILDCARD + "}") for template in templates]
        output.append(step.record_template.replace(phyper.HASH_PLACEHOLDER, "{" + WILDCARD + "}"))
        if step.is_hashed:
            plan = self.plan

            def inputs(wildcards: Any, step_name: str = step.name) -> list[str]:
                return plan.engine_inputs(plan.job(step_name, getattr(wildcards, WILDCARD)))

            rule_input: Callable[[Any], list[str]] | list[str] = inputs
        else:
            rule_input = self.plan.engine_inputs(self.plan.job(step.name, phyper.AGGREGATE_KEY))
        where = f" {{wildcards.{WILDCARD}}}" if step.is_hashed else ""
        return Rule(
            step.name,
            output,
            rule_input,
            command,
            f"phyper {step.name}{where}: {step.doc}",
            step.is_hashed,
            phyper.BATCH_KEY_PATTERN if step.is_batched else phyper.HASH_PATTERN,
        )

    @property
    def targets(self) -> list[str]:
        """Every output of every job: what the default target ``all`` asks for."""
        return self.plan.targets()


def load(spec: str) -> SnakemakeWorkflow:
    """Import the pipeline ``MODULE:ATTRIBUTE`` and translate its plan into rules."""
    return SnakemakeWorkflow(spec)
