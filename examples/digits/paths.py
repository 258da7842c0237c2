"""Every file of the digits pipeline, named in one place from the instances' hashed folders."""

import os

from config import Instance, parser


def get_split_data_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path('split_data'), 'digits.npz')


def get_checkpoint_path(instance: Instance) -> str:
    """Model, optimizer and random states after ``instance.n_epochs`` epochs: what a longer run continues from."""
    return os.path.join(instance.get_resources_path(), 'checkpoint.torch')


def get_training_metrics_path(instance: Instance) -> str:
    """One row per epoch: training loss, validation loss and accuracy."""
    return os.path.join(instance.get_resources_path(), 'training_metrics.json')


def get_epochs_log_path(instance: Instance) -> str:
    """One line appended per epoch trained in this folder (not an output: it counts work done)."""
    return os.path.join(instance.get_resources_path(), 'epochs.log')


def get_results_folder() -> str:
    return os.path.join(parser.hashed_resources_folder, 'results')


def get_validation_scores_path() -> str:
    return os.path.join(get_results_folder(), 'validation_scores.csv')


def get_best_model_checkpoint_path() -> str:
    return os.path.join(get_results_folder(), 'best_model', 'checkpoint.torch')


def get_best_model_training_metrics_path() -> str:
    return os.path.join(get_results_folder(), 'best_model', 'training_metrics.json')


def get_best_model_epochs_log_path() -> str:
    return os.path.join(get_results_folder(), 'best_model', 'epochs.log')


def get_best_model_test_results_path() -> str:
    return os.path.join(get_results_folder(), 'best_model', 'test_results.json')


def get_learning_curves_path() -> str:
    return os.path.join(get_results_folder(), 'learning_curves.png')


def get_report_path() -> str:
    return os.path.join(get_results_folder(), 'report.html')
