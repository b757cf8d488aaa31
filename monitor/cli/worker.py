"""Distributed mode (a queue: section): `misinfo worker`, `misinfo beat`, `misinfo enqueue`."""

from __future__ import annotations

import click

from monitor.cli.context import app
from monitor.config import Config
from monitor.errors import UsageError

DEFAULT_QUEUES = "collect,stages,notify"
STAGES = ("collect", "classify", "match", "group", "digest", "surge", "prune")


def _distributed(ctx: click.Context, command: str) -> Config:
    cfg = app(ctx).config
    if cfg.queue is None:
        raise UsageError(
            f"`misinfo {command}` needs a queue: section in the config (queue: {{broker: redis://HOST:6379/0}});"
            " without one, `misinfo run` runs everything on this machine"
        )
    return cfg


@click.command()
@click.option(
    "-Q",
    "--queues",
    default=DEFAULT_QUEUES,
    show_default=True,
    help="Queues to take tasks from: collect (fetching), stages (classify, match, group: the encoder), notify (e-mail).",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Tasks run at once (pool processes or threads); default: one per CPU core.",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "solo", "threads"]),
    default="prefork",
    show_default=True,
    help="prefork: processes; solo: one task at a time in this process; threads: threads (I/O-bound collection).",
)
@click.option("-n", "--name", default=None, help="Node name (default misinfo-PID@HOST); unique per worker.")
@click.pass_context
def worker(ctx: click.Context, queues: str, concurrency: int | None, pool: str, name: str | None) -> None:
    """Run a Celery worker: collection, classification, matching, grouping, digests, surge alerts.

    Needs a queue: section. Start as many as you like, on as many machines as share the database;
    SIGTERM finishes the running tasks and stops, and a worker killed outright loses nothing (its
    tasks go to another worker after queue.visibility_timeout).

    \b
    Example:
      misinfo worker --queues collect --concurrency 8 --pool threads
      misinfo worker --queues stages,notify --concurrency 1
    """
    from monitor.distributed.worker import (  # lazy: Celery and redis-py load only in distributed mode
        parse_queues,
        start_worker,
    )

    cfg = _distributed(ctx, "worker")
    start_worker(cfg, parse_queues(queues), concurrency, pool, name, app(ctx).verbose)


@click.command()
@click.pass_context
def beat(ctx: click.Context) -> None:
    """Run the schedule of the distributed mode (collection per source, digest, surge alerts, retention).

    Run exactly one beat; it writes a heartbeat to Redis that `misinfo status` shows.

    \b
    Example:
      misinfo beat
    """
    from monitor.distributed.worker import start_beat  # lazy: Celery and redis-py only in distributed mode

    cfg = _distributed(ctx, "beat")
    start_beat(cfg, app(ctx).verbose)


@click.command()
@click.argument("stage", type=click.Choice(STAGES))
@click.option("--source", "sources", multiple=True, help="collect: only this source (repeatable).")
@click.pass_context
def enqueue(ctx: click.Context, stage: str, sources: tuple[str, ...]) -> None:
    """Queue a stage for the workers now, as beat would (collect: one task per enabled source).

    \b
    Example:
      misinfo enqueue collect --source vnexpress
      misinfo enqueue digest
    """
    from monitor.distributed.app import (  # lazy: Celery and redis-py only in distributed mode
        check_broker,
        configure,
        send,
    )

    cfg = _distributed(ctx, "enqueue")
    configure(cfg)
    check_broker(cfg)
    if stage == "collect":
        enabled = [s.name for s in cfg.sources if s.enabled]
        unknown = [s for s in sources if s not in enabled]
        if unknown:
            raise UsageError(
                f"no enabled source named {', '.join(unknown)} (sources: {', '.join(enabled) or 'none'})"
            )
        for name in sources or tuple(enabled):
            click.echo(f"queued collect {name}: {send('misinfo.collect', name)}")
        return
    click.echo(f"queued {stage}: {send(f'misinfo.{stage}')}")


def register(cli: click.Group) -> None:
    """Add `worker`, `beat` and `enqueue`."""
    cli.add_command(worker)
    cli.add_command(beat)
    cli.add_command(enqueue)
