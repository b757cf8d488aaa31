"""Collect stage: fetch every enabled source through its connector, normalise and store new items.

Entry point: run_collect (monitor.collect.run), called through monitor.pipeline.collect. Normalisation
and near-duplicate decisions happen here (normalize.py, cluster.py); the store below only keeps the rows.
"""

from monitor.collect.run import CollectReport, run_collect

__all__ = ["CollectReport", "run_collect"]
