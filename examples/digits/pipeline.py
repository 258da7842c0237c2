"""The digits pipeline, declared once; Snakemake (Snakefile) and doit (dodo.py) both run it.

split_data (1 job) -> train_model (8 grid models, plus one per rung a search trial reached)
-> compute_scores (1) -> retrain_best_model (1), plot_learning_curves (1) -> make_report (1)

The grid trains 4 configurations for 10 and for 30 epochs (``n_epochs`` is a key). A
TPE search (``search``) looks for better ones over the learning rate, width, depth and
dropout: ``phyper search run --trials 20 -j 2`` asks Optuna for configurations and
trains each rung by rung (10, 30, 90 epochs, each continuing from the one below),
Hyperband stopping the bad ones early; its trials' rungs join the grid's instances, so
they share the one split, and ``snakemake -j8 all`` afterwards scores them, retrains
the best of everything on training + validation images and tests it once.

Training saves a checkpoint (model, optimizer, random states, learning curve) that a
longer run of the same configuration can continue from exactly (train.py).

Each step imports its heavy modules inside the function, so a job process loads
torch only when it trains. Each step also says what one job needs (threads, memory in
MB, wall time in minutes): a cluster profile sizes each job with them.
"""

import phyper
from config import Instance, instances, parser
from paths import (
    get_best_model_checkpoint_path,
    get_best_model_test_results_path,
    get_best_model_training_metrics_path,
    get_checkpoint_path,
    get_learning_curves_path,
    get_report_path,
    get_split_data_path,
    get_training_metrics_path,
    get_validation_scores_path,
)

search = phyper.Search(
    parser,
    space={
        'learning_rate': phyper.log_uniform(1e-4, 1e-1),
        'width': phyper.int_range(16, 256, log=True),
        'depth': phyper.int_range(1, 3),
        'dropout': phyper.uniform(0.0, 0.5),
    },
    objective='validation_accuracy',  # a metric of @pipeline.metrics: each trial is one model per rung
    direction='maximize',
    sampler='tpe',
    seed=0,
    # each trial trains 10 epochs, then 30, then 90, continuing from the rung below;
    # Optuna's Hyperband stops the bad ones between rungs
    fidelity=phyper.budget('n_epochs', low=10, high=90, factor=3),
    pruner='hyperband',
    group_by='configuration',  # a trial is a configuration: one name for all its rungs
)
pipeline = phyper.Pipeline(instances, searches=[search])


@pipeline.metrics
def validation_metrics(instance: Instance) -> dict[str, float]:
    """The last epoch's validation loss and accuracy of one trained model."""
    import score_models

    return score_models.last_validation_metrics(instance)


@pipeline.per_resource('split_data', outputs=[get_split_data_path], threads=1, mem_mb=500, runtime=5)
def split_data(instance: Instance) -> None:
    """Split the digits into training, validation and test images and standardise them (once)."""
    import dataset

    dataset.split_data(instance)


@pipeline.per_instance(
    inputs=[get_split_data_path], outputs=[get_checkpoint_path, get_training_metrics_path],
    threads=1, mem_mb=1000, runtime=10,  # torch runs single-threaded (train.py)
    continues='n_epochs',  # a longer budget goes on from the largest shorter one done
)
def train_model(instance: Instance) -> None:
    """Train one model up to ``n_epochs`` epochs (from the same model at fewer epochs, if one is done)."""
    import train

    train.train_model(instance, continue_from=phyper.continued_from(instance))


@pipeline.aggregate(inputs=[get_training_metrics_path], outputs=[get_validation_scores_path],
                    threads=1, mem_mb=1000, runtime=5)
def compute_scores(all_instances: list[Instance]) -> None:
    """Every model's validation accuracy and loss, the best first."""
    import score_models

    score_models.compute_scores(all_instances)


@pipeline.aggregate(
    inputs=[get_validation_scores_path, get_split_data_path],
    outputs=[get_best_model_checkpoint_path, get_best_model_training_metrics_path, get_best_model_test_results_path],
    threads=1, mem_mb=1000, runtime=10,
)
def retrain_best_model(all_instances: list[Instance]) -> None:
    """Retrain the best configuration on training + validation images and test it once."""
    import best_model

    best_model.train_best_model(all_instances)


@pipeline.aggregate(inputs=[get_validation_scores_path, get_training_metrics_path], outputs=[get_learning_curves_path],
                    threads=1, mem_mb=1000, runtime=5)
def plot_learning_curves(all_instances: list[Instance]) -> None:
    """Draw every configuration's validation accuracy against epochs."""
    import plots

    plots.plot_learning_curves(all_instances)


@pipeline.aggregate(
    inputs=[get_validation_scores_path, get_learning_curves_path, get_best_model_test_results_path],
    outputs=[get_report_path], threads=1, mem_mb=1000, runtime=5,
)
def make_report(all_instances: list[Instance]) -> None:
    """Write the HTML report (one self-contained page, opens offline): models, search, figures."""
    phyper.report(pipeline, get_report_path(), title='Digits: grid and TPE search')
