"""Make the study of a pruned search as `phyper search run` with a pruner leaves it, step by step.

Run in a copy of tests/fixtures/pruned. Each planned trial is asked of the search's own
study (its journal storage, real Optuna), its point recorded as the driver records it;
then, rung by rung, the rung's jobs run through phyper (`phyper.run_job`, continuing from
the lower rung), the objective is read by the pipeline's metrics loader and reported to
the trial at that budget; the trial is then told PRUNED (at its last rung) or COMPLETE.
The plan is fixed (which configuration, which rungs) so the tests know the epochs by hand.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.getcwd())

import optuna

import phyper
from phyper._search.driver import distributions, open_study, write_point
from phyper._search.space import TrialRecord
from pipeline import pipeline, search

PLAN = [  # (lr, the rungs the trial reaches, how it ends)
    (1.0, [1], "pruned"),
    (2.0, [1, 3], "pruned"),
    (4.0, [1, 3, 9], "complete"),
    (3.0, [1, 3, 9], "complete"),
    (2.0, [1, 3, 9], "complete"),  # the configuration of trial 1 again: its rungs 1 and 3 are done
    (1.0, [1], "pruned"),  # trial 0 again: nothing to train
]

study = open_study(search)
for lr, rungs, end in PLAN:
    study.enqueue_trial({"lr": lr})  # the plan's configuration, asked of the study as the driver asks
    trial = study.ask(distributions(search))
    assert trial.params == {"lr": lr}, trial.params
    params = search.normalize(trial.params)
    value = None
    for rung in rungs:
        write_point(search, TrialRecord(search.trial_hash(params), params, rung))  # before the rung's jobs run
        instances = search.trial_instances(params, rung)
        pipeline.add_instances(instances)
        for instance in instances:
            phyper.run_job(pipeline, "prepare", instance.get_instance_hash("dataset"))
            phyper.run_job(pipeline, "fit", instance.get_instance_hash())
        value = sum(pipeline.metrics_loader(instance)["score"] for instance in instances) / len(instances)
        trial.report(value, rung)
    if end == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, value)
