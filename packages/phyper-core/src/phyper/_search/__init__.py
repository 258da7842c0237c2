"""Adaptive search over a pipeline's keys: the search space and trial records, and the driver."""
