"""The hyperparameter model: value types, hashes, schemas, instances and their lists, manifests, the 0.x API."""
