"""doit backend of phyper: a phyper pipeline as doit tasks.

A ``dodo.py`` of a few lines runs a whole pipeline:

```python
import phyper_doit

DOIT_CONFIG = phyper_doit.DOIT_CONFIG
task_phyper = phyper_doit.tasks("pipeline:pipeline")
```

Each step becomes a doit task (``doit list`` shows them) with one sub-task per job,
named ``<step>:<hash>`` (``<step>:all`` for aggregates). A sub-task runs
``python -m phyper run ...`` in its own process; its ``task_dep`` are the jobs that
write its inputs, its ``targets`` are its outputs and completion record, and its
``uptodate`` check is phyper's verdict, the same truth the Snakemake backend uses
(a step's group task is up to date when all its jobs are). No ``file_dep`` is
declared on purpose: doit would then also want its own database entry, and a job
completed by another engine would run again.

``doit -a STEP`` forces the jobs of that step and never its upstream (a complete
upstream job is dropped from their ``task_dep``); doit runs only the tasks named, so a
plain ``doit`` afterwards runs what follows them.

``DOIT_CONFIG`` names phyper's reporter, [`PhyperReporter`][phyper_doit.PhyperReporter]:
each job doit starts is announced with its step, key values (or batch and member
count) and why it runs, with no completion-record path; jobs already done are counted,
not listed; the run ends with one closing line (ran, already done, failed, and
``phyper status`` to see why).
"""

from __future__ import annotations

from phyper_doit._reporter import PhyperReporter
from phyper_doit._tasks import DOIT_CONFIG, forced_by_command_line, job_is_complete, step_is_complete, task_dicts, tasks

__all__ = ["DOIT_CONFIG", "PhyperReporter", "forced_by_command_line", "job_is_complete", "step_is_complete", "task_dicts", "tasks"]
