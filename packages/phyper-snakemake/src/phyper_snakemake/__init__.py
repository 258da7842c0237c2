"""Snakemake backend of phyper: a phyper pipeline as Snakemake rules.

A Snakefile of a few lines runs a whole pipeline:

```python
import phyper_snakemake
phyper_workflow = phyper_snakemake.load("pipeline:pipeline")
include: phyper_snakemake.SNAKEFILE

rule all:
    default_target: True
    input: phyper_workflow.targets
```

That defines one rule per step (named after the step; the job's hash is the
wildcard ``hash``, constrained to 32 hex digits) and ``rule all`` asks for the
completion records of the jobs phyper finds to run (make it the default target):
``snakemake -n`` plans exactly what ``phyper status`` names, and changes no file.
Each job is a shell command, ``python -m phyper run ...``, a separate light process
that shares nothing in memory with the Snakefile, so every executor plugin works.

Each job's ``message:`` names it for people, with why it runs (``train_model(batch 2 of
7: 9 jobs) · new``). ``logger: phyper`` in a profile (or ``--logger phyper``) turns on
the logger plugin that comes with this package (``snakemake_logger_plugin_phyper``):
one line per job, no completion-record path, and phyper's closing line.

For hand-written rules (the seed's style) there are [`get_wildcarded_path`][phyper_snakemake.get_wildcarded_path],
[`get_hashes`][phyper_snakemake.get_hashes] and [`get_instance`][phyper_snakemake.get_instance].
"""

from __future__ import annotations

from phyper_snakemake._helpers import (
    get_hashes,
    get_instance,
    get_wildcarded_path,
    snakemake_helper_get_wildcarded_path,
)
from phyper_snakemake._workflow import SNAKEFILE, WILDCARD, Rule, SnakemakeWorkflow, load

__all__ = [
    "SNAKEFILE",
    "WILDCARD",
    "Rule",
    "SnakemakeWorkflow",
    "get_hashes",
    "get_instance",
    "get_wildcarded_path",
    "load",
    "snakemake_helper_get_wildcarded_path",
]
