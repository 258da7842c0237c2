import phyper_doit

DOIT_CONFIG = phyper_doit.DOIT_CONFIG
task_phyper = phyper_doit.tasks("pipeline:pipeline")
