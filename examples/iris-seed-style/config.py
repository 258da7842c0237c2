"""The hyperparameters of the seed-style workflow: ``examples/iris/config.py`` itself, shared.

The seed's Snakefile runs ``from config import instances, Instance``; ``main.py`` and
the Iris modules (``paths``, ``dataset``, ``train``, ``score_models``, ``best_model``)
import ``config`` by name too. So that both workflows run the very same classes, grid
and hashes without a copy, this module executes ``../iris/config.py`` as itself and
puts ``../iris`` on the import path, after this folder: ``config`` stays this module,
and ``paths``, ``dataset`` ... are the Iris example's own files.
"""

import os
import sys

IRIS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'iris'))
if IRIS not in sys.path:
    sys.path.append(IRIS)

_CONFIG = os.path.join(IRIS, 'config.py')
with open(_CONFIG, encoding='utf-8') as _file:
    # compiled with its own file name, so tracebacks point at examples/iris/config.py
    exec(compile(_file.read(), _CONFIG, 'exec'))
