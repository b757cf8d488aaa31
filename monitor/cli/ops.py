"""Operations: `misinfo prune` (retention of evidence copies and the fetch log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from monitor.cli.context import app
from monitor.config import parse_duration
from monitor.errors import UsageError
from monitor.store.collect import prune as prune_rows
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


def register(cli: click.Group) -> None:
    cli.add_command(prune)
