"""Every file of the Iris pipeline, named in one place from the instances' hashed folders."""

import os

from config import Instance, parser


def get_transformed_dataset_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path('transformed_data'), 'transformed_data.npy')


def get_preprocessed_dataset_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path('preprocessed_data'), 'preprocessed_data.npy')


def get_torch_model_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path(), 'torch_model.torch')


def get_training_metrics_path(instance: Instance) -> str:
    return os.path.join(instance.get_resources_path(), 'training_metrics.hdf5')


def get_results_folder() -> str:
    return os.path.join(parser.hashed_resources_folder, 'results')


def get_cross_validation_scores_path() -> str:
    return os.path.join(get_results_folder(), 'cross_validation_scores.csv')


def get_parallel_categories_path() -> str:
    return os.path.join(get_results_folder(), 'parallel_categories.png')


def get_best_model_torch_model_path() -> str:
    return os.path.join(get_results_folder(), 'best_model', 'torch_model.torch')


def get_best_model_training_metrics_path() -> str:
    return os.path.join(get_results_folder(), 'best_model', 'training_metrics.hdf5')


def get_best_model_test_results_path() -> str:
    return os.path.join(get_results_folder(), 'best_model', 'test_results.json')


def get_report_path() -> str:
    return os.path.join(get_results_folder(), 'report.html')
