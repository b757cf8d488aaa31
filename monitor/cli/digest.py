"""`misinfo digest` and `misinfo surge`: the daily email and narrative surge alerts."""

from __future__ import annotations

from datetime import date as Date
from pathlib import Path

import click

from monitor.cli.context import app
from monitor.errors import MailError, UsageError
from monitor.notify.delivery import SendResult


def _failure(results: list[SendResult], what: str) -> MailError:
    """One error line for the failed messages of a run."""
    first = results[0]
    return MailError(
        f"{first.error} ({len(results)} {what} not sent; the failure is recorded and the next run retries)"
        if first.status != "uncertain"
        else f"{first.error} — the message may have been delivered: check the mail server log for"
        f" {first.message_id}, then re-send with --force if it is absent"
    )


@click.command()
@click.option(
    "--send", "mode", flag_value="send", help="Send the digest by SMTP (each message at most once)."
)
@click.option(
    "--dry-run", "mode", flag_value="dry-run", help="Write <recipient>.eml and .html files; send nothing."
)
@click.option("--date", "period", metavar="YYYY-MM-DD", help="Period (local date) to build; default today.")
@click.option(
    "--to", "to", metavar="EMAIL", help="Only this recipient (or a test address not in the config)."
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for --dry-run files."
)
@click.option(
    "--force",
    is_flag=True,
    help="Re-send messages stuck in 'sending' past their lease (possibly delivered) with the same Message-ID.",
)
@click.option(
    "--retry",
    "mode",
    flag_value="retry",
    help="Only re-send failed digests and alerts whose backoff has passed (for a frequent scheduled job).",
)
@click.pass_context
def digest(
    ctx: click.Context,
    mode: str | None,
    period: str | None,
    to: str | None,
    out_dir: Path | None,
    force: bool,
) -> None:
    """Build the daily digest for each recipient in digest.recipients.

    Without --send or --dry-run, list what would be sent (subject and ledger state).
    A message already sent for the period is never sent again; an SMTP failure is recorded and
    retried with backoff on the next run.

    \b
    Example:
      misinfo digest --dry-run --out /tmp/digest
      misinfo digest --send
      misinfo digest --send --date 2026-11-25 --to dieu-phoi@example.gov.vn
      misinfo digest --retry
    """
    from monitor import pipeline  # lazy: the stages pull scikit-learn/scipy (~2 s); --help stays fast

    try:
        day = Date.fromisoformat(period) if period else None
    except ValueError:
        raise UsageError(f"--date {period}: write the date as YYYY-MM-DD") from None
    a = app(ctx)
    if not a.config.digest.recipients and not to and mode != "retry":
        raise UsageError("digest.recipients is empty — add recipients to the config or pass --to EMAIL")
    report = pipeline.digest(
        a.config,
        a.db,
        send=mode == "send",
        dry_run=mode == "dry-run",
        date=day,
        to=to,
        out_dir=out_dir,
        force=force,
        retry_only=mode == "retry",
    )
    for result in report.results:
        if mode is None:
            click.echo(
                f"{result.recipient}: {result.subject}" + (f" ({result.error})" if result.error else "")
            )
        elif result.status == "stuck":
            click.echo("warning: " + result.line(), err=True)
        else:
            click.echo(result.line())
    if report.failed:
        raise _failure(report.failed, "digest(s)")


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Detect surges and write the alert .eml/.html files; send nothing."
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for --dry-run files."
)
@click.pass_context
def surge(ctx: click.Context, dry_run: bool, out_dir: Path | None) -> None:
    """Alert coordinators when a narrative's (or an unanswered claim's) flagged volume surges, once per
    narrative or claim group per window.

    A surge: flagged items of one narrative or open unanswered-claim group in the last hour (or day) reach
    digest.surge_min_items
    and exceed digest.surge_factor times the mean of the previous 7 days.

    \b
    Example:
      misinfo surge --dry-run
      misinfo surge
    """
    from monitor import pipeline  # lazy: the stages pull scikit-learn/scipy (~2 s); --help stays fast

    a = app(ctx)
    report = pipeline.surge(a.config, a.db, dry_run=dry_run, out_dir=out_dir)
    if not report.surges:
        click.echo("No surge.")
    for s in report.surges:
        click.echo(
            f"surge: {'unanswered claim: ' if s.get('group_id') else ''}{' '.join(str(s['name']).split())}"
            f" — {s['count']} flagged in the last {s['window']}"
            f" (baseline {s['baseline']:.1f})"
        )
    for result in report.results:
        click.echo(result.line(), err=result.status == "stuck")
    if report.surges and not report.results:
        click.echo("warning: no recipient with role coordinator or admin in digest.recipients", err=True)
    if report.failed:
        raise _failure(report.failed, "alert(s)")


def register(cli: click.Group) -> None:
    """Add the digest and surge commands to the CLI."""
    cli.add_command(digest)
    cli.add_command(surge)
