"""The job commands of the seed's Snakefile: ``python -m main <command> [--instance-hash HASH]``.

transform-data   --instance-hash <transformed_data hash>
preprocess-data  --instance-hash <preprocessed_data hash>
train-model      --instance-hash <full instance hash>
train-best-model

Each command looks its instance up by hash and calls the Iris example's own code.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from config import Instance, instances


def transform_data(instance_hash: str) -> None:
    import dataset

    dataset.transform_data(Instance.get_instance_from_hash(instance_hash, instances, resource_name='transformed_data'))


def preprocess_data(instance_hash: str) -> None:
    import dataset

    dataset.preprocess_data(
        Instance.get_instance_from_hash(instance_hash, instances, resource_name='preprocessed_data'))


def train_model(instance_hash: str) -> None:
    import train

    train.train(Instance.get_instance_from_hash(instance_hash, instances))


def train_best_model() -> None:
    import best_model

    best_model.train_best_model(instances)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='python -m main', description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    for name in ('transform-data', 'preprocess-data', 'train-model'):
        commands.add_parser(name).add_argument('--instance-hash', required=True)
    commands.add_parser('train-best-model')
    arguments = parser.parse_args(argv)
    if arguments.command == 'transform-data':
        transform_data(arguments.instance_hash)
    elif arguments.command == 'preprocess-data':
        preprocess_data(arguments.instance_hash)
    elif arguments.command == 'train-model':
        train_model(arguments.instance_hash)
    else:
        train_best_model()


if __name__ == '__main__':
    main()
