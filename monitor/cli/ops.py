"""Operations: `misinfo prune` (retention of evidence copies and the fetch log), `misinfo migrate --to`
(copy a SQLite store into an empty PostgreSQL database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from monitor.cli.context import app
from monitor.config import parse_duration
from monitor.errors import StoreError, UsageError
from monitor.store.backend import check_url, is_url, redact
from monitor.store.collect import prune as prune_rows
from monitor.store.copy import copy_to_postgresql
from monitor.store.db import to_db_time


@click.command()
@click.option(
    "--older-than",
    "older_than",
    default=None,
    help="Delete evidence and fetch log rows older than this (e.g. 180d); default: the retention: section.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.pass_context
def prune(ctx: click.Context, older_than: str | None, as_json: bool) -> None:
    """Delete old evidence copies (the fetched bodies kept with items) and old fetch log rows.

    Items, flags, decisions and the audit log are kept. The scheduler of `misinfo run` does this daily
    with the ages in the retention: section.

    \b
    Example:
      misinfo prune
      misinfo prune --older-than 90d
    """
    a = app(ctx)
    retention = a.config.retention
    if older_than is not None:
        try:
            evidence_age = fetch_log_age = parse_duration(older_than)
        except ValueError as exc:
            raise UsageError(f"--older-than: {exc}") from None
    else:
        evidence_age, fetch_log_age = retention.evidence, retention.fetch_log
    now = datetime.now(UTC)
    counts = prune_rows(
        a.db,
        evidence_before=to_db_time(now - timedelta(seconds=evidence_age)),
        fetch_log_before=to_db_time(now - timedelta(seconds=fetch_log_age)),
    )
    if as_json:
        click.echo(json.dumps(counts))
        return
    click.echo(
        f"Deleted {counts['evidence']} evidence row(s) older than {evidence_age / 86400:g} day(s)"
        f" ({counts['evidence_blobs']} stored bodies freed) and {counts['fetch_log']} fetch_log row(s)"
        f" older than {fetch_log_age / 86400:g} day(s)."
    )


@click.command("migrate")
@click.option(
    "--to", "target", required=True, help="The empty PostgreSQL database: postgresql://user@host/db."
)
@click.option(
    "--from",
    "source",
    default=None,
    type=click.Path(dir_okay=False),
    help="The SQLite file to copy (default: `database:` of the config).",
)
@click.option("--batch", default=5000, show_default=True, help="Rows per batch read from SQLite.")
@click.pass_context
def migrate_to(ctx: click.Context, target: str, source: str | None, batch: int) -> None:
    """Copy a SQLite database into an EMPTY PostgreSQL database, then compare every table's row count.

    The SQLite file is opened read-only and never changes. The copy is one transaction: the schema (the
    same migrations), every table, identity sequences past the largest id; a failure leaves PostgreSQL
    empty. A database that already holds tables is refused. Exit 0 only when every count matches; 2 for a
    bad URL, an unreachable server or a refused target. Then set `database:` to the URL.

    \b
    Example:
      misinfo migrate --to postgresql://misinfo@db.internal:5432/misinfo
      misinfo migrate --from /var/lib/misinfo/misinfo.db --to postgresql://misinfo@db/misinfo
    """
    if not is_url(target) or check_url(target):
        raise UsageError(f"--to: {check_url(target) or 'give a postgresql:// URL'}")
    if source is None:
        configured = app(ctx).config.database_path
        if is_url(configured):
            raise UsageError("`database:` is already a server URL — name the SQLite file with --from PATH")
        source = str(configured)
    try:
        counts = copy_to_postgresql(source, target, batch=max(batch, 1))
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    width = max([len(c.table) for c in counts] + [5])
    click.echo(f"{'table':<{width}}  {'sqlite':>10}  {'postgresql':>10}")
    for c in counts:
        click.echo(f"{c.table:<{width}}  {c.sqlite:>10}  {c.postgresql:>10}{'' if c.ok else '  MISMATCH'}")
    bad = [c.table for c in counts if not c.ok]
    if bad:
        raise StoreError(f"row counts differ in {len(bad)} table(s): {', '.join(bad)}")
    click.echo(f"Copied {len(counts)} table(s) from {source} to {redact(target)}; every row count matches.")


def register(cli: click.Group) -> None:
    cli.add_command(prune)
    cli.add_command(migrate_to)
