"""``phyper.Parser``: the hyperparameter model (`phyper._model.model`) with phyper 0.x's names (`phyper._model.compat`)."""

from __future__ import annotations

from phyper._model.compat import Phyper0Parser

__all__ = ["Parser"]


class Parser(Phyper0Parser):
    """Base class of a hyperparameter set: subclass it and declare hyperparameters as class attributes.

    Attributes declared in a `Parser` subclass are keys (they define a result);
    attributes of a plain mixin are non-keys (needed to run, they define nothing).
    The object made by `Instance(...)` is the *parser*: it holds the registered
    resources and creates instances. Instances are immutable; their keys define their
    hashes, hashes name folders.

    Example:
        ```python
        class NonKeys:                      # a plain mixin: its attributes are non-keys
            n_epochs = 2000

        class Instance(phyper.Parser, NonKeys):
            n_hidden_layers = 3             # declared in a Parser subclass: a key
            transformation: Literal["identity", "log", "square"] = "identity"

        parser = Instance(hashed_resources_folder="derived_data")
        parser.register_new_resource("transformed_data", ["transformation"])
        instances = parser.get_instances_from_dictionary({"n_hidden_layers": [1, 2, 3]})
        ```

    The methods come from the model (`phyper._model.model.ParserModel`); phyper 0.x's names
    from `phyper._model.compat.Phyper0Parser`, on top of it.
    """

    __slots__ = ()
    _phyper_base = True
