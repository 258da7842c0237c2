"""The README's "In short" grid: two keys, one non-key, one resource."""

import phyper


class NonKeys:  # a plain mixin: non-keys
    n_epochs = 3


class Instance(phyper.Parser, NonKeys):  # declared here: keys
    transformation = 'identity'
    n_hidden_layers = 3


parser = Instance(hashed_resources_folder='derived_data')
parser.register_new_resource(name='transformed_data', dependencies=['transformation'])
instances = parser.get_instances_from_dictionary(
    {'transformation': ['identity', 'log', 'square'], 'n_hidden_layers': [1, 2, 3]}
)
