"""The Iris pipeline, declared once; Snakemake (Snakefile) and doit (dodo.py) both run it.

transform_data (3 jobs) -> preprocess_data (6) -> train_model (90, in 7 batches)
-> compute_cv_scores (1) -> retrain_best_model (1), plot_results (1) -> make_report (1)

The metrics are named once (``pipeline.metrics``): ``phyper collect``, ``phyper report``
and the report step read them through it.

A TPE search runs over the same keys (``search``): ``phyper search run --trials 12 -j 2``
asks Optuna for configurations and trains each on the five folds; its trials join the
grid's instances, so they share every transformed and preprocessed dataset (at most 3
and 6) and every model already trained (``phyper search show`` lists them).

Each step imports its heavy modules inside the function, so a job process loads
torch only when it trains. Each step also says what one job needs (threads, memory
in MB, wall time in minutes, generous for 2000 epochs): a cluster profile sizes each
job with them (profiles/slurm).
"""

from typing import Dict, List

import phyper
from config import Instance, instances, parser
from paths import (
    get_best_model_test_results_path,
    get_best_model_torch_model_path,
    get_best_model_training_metrics_path,
    get_cross_validation_scores_path,
    get_parallel_categories_path,
    get_preprocessed_dataset_path,
    get_report_path,
    get_torch_model_path,
    get_training_metrics_path,
    get_transformed_dataset_path,
)

search = phyper.Search(
    parser,
    space={
        'transformation': phyper.choice(['identity', 'log', 'square']),
        'centering': phyper.choice([True, False]),
        'n_hidden_layers': phyper.int_range(1, 3),
    },
    expand={'cv_fold': range(5)},  # each trial trains the five folds; the objective is their mean
    objective='validation_accuracy',
    direction='maximize',
    group_by='cross_validated_model',
    sampler='tpe',
    seed=0,
)
pipeline = phyper.Pipeline(instances, searches=[search])


@pipeline.metrics
def validation_metrics(instance: Instance) -> Dict[str, float]:
    """The last epoch's validation loss and accuracy of one trained model."""
    import score_models

    return score_models.last_validation_metrics(instance)


@pipeline.per_resource('transformed_data', outputs=[get_transformed_dataset_path], threads=1, mem_mb=500, runtime=5)
def transform_data(instance: Instance) -> None:
    """Apply the transformation to the Iris features."""
    import dataset

    dataset.transform_data(instance)


@pipeline.per_resource(
    'preprocessed_data', inputs=[get_transformed_dataset_path], outputs=[get_preprocessed_dataset_path],
    threads=1, mem_mb=500, runtime=5,
)
def preprocess_data(instance: Instance) -> None:
    """Center the transformed features (when centering is on)."""
    import dataset

    dataset.preprocess_data(instance)


# batch=15: the engines run the 90 trainings as 7 jobs of at most 15 models (and at
# least 8), so each job process imports torch once, not once per
# model; every model still gets its own folder and completion record, and deleting
# one model's folder retrains only that model. PHYPER_BATCH="train_model=0" turns
# batches off for one run without editing this file.
@pipeline.per_instance(
    inputs=[get_preprocessed_dataset_path], outputs=[get_torch_model_path, get_training_metrics_path],
    threads=1, mem_mb=1000, runtime=10,  # torch runs single-threaded (train.py); runtime is per batch job
    batch=15,
)
def train_model(instance: Instance) -> None:
    """Train one model on its cross-validation fold."""
    import train

    train.train(instance)


@pipeline.aggregate(
    inputs=[get_training_metrics_path], outputs=[get_cross_validation_scores_path], threads=1, mem_mb=1000, runtime=5
)
def compute_cv_scores(all_instances: List[Instance]) -> None:
    """Average the validation metrics over the folds of each configuration."""
    import score_models

    score_models.compute_score_for_each_model(all_instances)


@pipeline.aggregate(
    inputs=[get_cross_validation_scores_path, get_preprocessed_dataset_path],
    outputs=[
        get_best_model_torch_model_path,
        get_best_model_training_metrics_path,
        get_best_model_test_results_path,
    ],
    threads=1, mem_mb=1000, runtime=10,
)
def retrain_best_model(all_instances: List[Instance]) -> None:
    """Retrain the best configuration on train+validation and test it."""
    import best_model

    best_model.train_best_model(all_instances)


@pipeline.aggregate(
    inputs=[get_cross_validation_scores_path], outputs=[get_parallel_categories_path], threads=1, mem_mb=1000, runtime=5
)
def plot_results(all_instances: List[Instance]) -> None:
    """Draw the parallel-categories figure of the cross-validation scores."""
    import plots

    plots.plot_cross_validation_scores()


@pipeline.aggregate(
    inputs=[get_cross_validation_scores_path, get_parallel_categories_path, get_best_model_test_results_path],
    outputs=[get_report_path], threads=1, mem_mb=1000, runtime=5,
)
def make_report(all_instances: List[Instance]) -> None:
    """Write the grid's HTML report (one self-contained page, opens offline)."""
    phyper.report(pipeline, get_report_path(), title='Iris grid')
