"""Check what an engine wrote, against values computed here (not by phyper or the pipeline)."""

import glob
import json
import math
import sys

expected = {
    f'{name}-{layers}': sum(function(x) for x in [1.0, 2.0, 3.0, 4.0]) * layers * 3
    for name, function in {'identity': lambda x: x, 'log': math.log, 'square': lambda x: x * x}.items()
    for layers in (1, 2, 3)
}
with open('derived_data/results/scores.json') as handle:
    scores = json.load(handle)
transformed = glob.glob('derived_data/transformed_data/*/data.json')
models = glob.glob('derived_data/all/*/model.json')

assert scores.keys() == expected.keys(), scores
assert all(math.isclose(scores[name], value) for name, value in expected.items()), (scores, expected)
assert len(transformed) == 3 and len(models) == 9, (transformed, models)
print(f'{sys.argv[1]}: 3 transformed data sets, 9 models, scores.json with the 9 expected scores')
