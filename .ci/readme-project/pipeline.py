"""The README's three steps, each writing a real file: 3 transformations, 9 models, 1 score file."""

import json
import math
import os

import phyper
from config import instances, parser

DATA = [1.0, 2.0, 3.0, 4.0]
FUNCTIONS = {'identity': lambda x: x, 'log': math.log, 'square': lambda x: x * x}


def get_transformed_dataset_path(instance):
    return os.path.join(instance.get_resources_path('transformed_data'), 'data.json')


def get_model_path(instance):
    return os.path.join(instance.get_resources_path(), 'model.json')


def get_scores_path():
    return os.path.join(parser.hashed_resources_folder, 'results', 'scores.json')


pipeline = phyper.Pipeline(instances)


@pipeline.per_resource('transformed_data', outputs=[get_transformed_dataset_path])
def transform_data(instance):
    values = [FUNCTIONS[instance.transformation](x) for x in DATA]
    with phyper.atomic_output(get_transformed_dataset_path(instance)) as temporary, open(temporary, 'w') as handle:
        json.dump(values, handle)


@pipeline.per_instance(inputs=[get_transformed_dataset_path], outputs=[get_model_path], batch=4)
def train_model(instance):
    with open(get_transformed_dataset_path(instance)) as handle:
        values = json.load(handle)
    weight = sum(values) * instance.n_hidden_layers * instance.n_epochs
    with phyper.atomic_output(get_model_path(instance)) as temporary, open(temporary, 'w') as handle:
        json.dump({'weight': weight}, handle)


@pipeline.aggregate(inputs=[get_model_path], outputs=[get_scores_path])
def compute_scores(instances):
    scores = {}
    for instance in instances:
        with open(get_model_path(instance)) as handle:
            scores[f'{instance.transformation}-{instance.n_hidden_layers}'] = json.load(handle)['weight']
    with phyper.atomic_output(get_scores_path()) as temporary, open(temporary, 'w') as handle:
        json.dump(scores, handle, sort_keys=True)
