"""Hyperparameters of the digits example: the classes, resources and the grid.

``n_epochs`` is a **key** here, unlike in the Iris example: a model trained 10 epochs
and the same model trained 30 are two results (two folders, two hashes), which is
what a search over a budget (a fidelity) compares. ``seed`` is a key: it fixes the
weights' initialisation, the dropout masks and the mini-batch order.
"""

import phyper


class NonKeys:
    # the mini-batch size does not change between the runs compared here
    batch_size = 64


class Instance(phyper.Parser, NonKeys):
    seed = 0
    learning_rate = 0.001
    # hidden units per layer
    width = 64
    # hidden layers
    depth = 2
    dropout = 0.0
    # the budget: epochs of training (a key: it defines a result)
    n_epochs = 30


parser = Instance(hashed_resources_folder='derived_data')

# one split and standardisation shared by every model: it depends on no key
parser.register_new_resource(name='split_data', dependencies=[])
# a configuration trained for any number of epochs (every key but the budget): one
# learning curve
parser.register_new_resource(
    name='configuration', dependencies=['seed', 'learning_rate', 'width', 'depth', 'dropout'])

# 2 learning rates x 2 widths x 2 budgets = 8 models; other keys take the defaults above
d = {'learning_rate': [0.001, 0.01],
     'width': [32, 128],
     'n_epochs': [10, 30]}

instances: list[Instance] = parser.get_instances_from_dictionary(d)
