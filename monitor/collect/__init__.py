"""Collect stage: fetch every enabled source through its connector, normalise and store new items.

Entry point: monitor.collect.run.run_collect, called through monitor.pipeline.collect. Not re-exported
here until phase 2: monitor.store.collect still imports monitor.collect.normalize, which runs this file
first, so importing run (which imports the store) here would close an import cycle.
"""
