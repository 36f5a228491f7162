"""Queries over the run DAG: references, log, blame, diff, graph."""
