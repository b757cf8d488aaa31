"""`misinfo unanswered`: groups of flagged posts that no approved rebuttal answers."""

from __future__ import annotations

import json

import click

from monitor.cli.context import app


@click.command()
@click.option(
    "--days", type=click.IntRange(1, 365), default=None, help="Look back this many days (group.days)."
)
@click.option("--json", "as_json", is_flag=True, help="Print {'groups': [...]} as JSON.")
@click.option("--no-update", is_flag=True, help="List the stored groups without placing new items first.")
@click.pass_context
def unanswered(ctx: click.Context, days: int | None, as_json: bool, no_update: bool) -> None:
    """Group the flagged posts no approved rebuttal answers and list the groups, biggest and fastest
    growing first (size x growth over the last 24 h against the group's own baseline).

    \b
    Example:
      misinfo unanswered --days 3
      misinfo unanswered --json
    """
    from monitor import pipeline  # lazy: the stages pull scikit-learn/scipy (~2 s); --help stays fast
    from monitor.group.run import as_json as to_json  # lazy: pulls scikit-learn, like the pipeline

    a = app(ctx)
    if not no_update:
        report = pipeline.group(a.config, a.db)
        if not as_json:
            click.echo(report.summary(), err=True)
    groups = pipeline.unanswered(a.config, a.db, days=days)
    if as_json:
        click.echo(json.dumps(to_json(groups), ensure_ascii=False, indent=2))
        return
    if not groups:
        click.echo("No unanswered claims.")
    for g in groups:
        click.echo(
            f"#{g['id']}  {g['size']} post(s)  growth {g['growth']:.2f}  {g['first_seen']} .. {g['last_seen']}"
            f"  [{', '.join(g['languages'])}]  {' '.join(str(g['label']).split())}"
        )


def register(cli: click.Group) -> None:
    """Add the unanswered command to the CLI."""
    cli.add_command(unanswered)
