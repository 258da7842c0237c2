"""The digits pipeline with doit: `doit -n 8` (`doit list` shows the steps)."""

import phyper_doit

DOIT_CONFIG = phyper_doit.DOIT_CONFIG
task_phyper = phyper_doit.tasks("pipeline:pipeline")
