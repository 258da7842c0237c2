"""Steps, pipelines, plans, batches, code tracking and the verdicts: what is to run, and why."""
