"""Distributed work with Celery on Redis (the `queue:` section): the same pipeline stages, started differently.

`app.py` builds the Celery app from the config, `tasks.py` holds the tasks (thin wrappers over
monitor/pipeline.py), `locks.py` the Redis-based per-host politeness timer and the per-source and per-stage
locks, `beat.py` the schedule (with a heartbeat `misinfo status` reads), `health.py` what `misinfo status`
shows about workers, queues and beat. Without a `queue:` section nothing here is imported.
"""
