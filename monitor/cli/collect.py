"""`misinfo collect` (one pass by hand) and `misinfo run` (scheduler + web app in one process)."""

from __future__ import annotations

import json
from typing import Any

import click

from monitor.cli.context import app
from monitor.errors import UsageError


def _progress_printer(console: Any, progress: Any, task: Any) -> Any:
    """Adapt run_collect's progress events to a rich progress bar."""

    def on_event(event: str, name: str, detail: dict[str, Any]) -> None:
        if event == "start":
            progress.update(task, description=f"{name}")
        elif event == "item":
            progress.update(task, description=f"{name}: item stored" if detail.get("created") else f"{name}")
        elif event == "done":
            progress.advance(task)

    return on_event


@click.command()
@click.option(
    "--source", "source", default=None, help="Collect only this source (by name), even if backing off."
)
@click.option("--force", is_flag=True, help="Also collect sources that are backing off after failures.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-source results as one JSON object.")
@click.pass_context
def collect(ctx: click.Context, source: str | None, force: bool, as_json: bool) -> None:
    """Run one collection pass over the enabled sources and store new items.

    Exits 0 even when some sources fail: failures are listed here and in `misinfo status`.

    \b
    Example:
      misinfo collect
      misinfo collect --source vnexpress-thoi-su
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from monitor import pipeline  # lazy: the stages pull scikit-learn/scipy (~2 s); --help stays fast

    a = app(ctx)
    cfg, db = a.config, a.db
    total = len([s for s in cfg.sources if s.enabled and (source is None or s.name == source)])
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json or not console.is_terminal,
    ) as progress:
        task = progress.add_task("collecting", total=total)
        report = pipeline.collect(
            cfg, db, source=source, progress=_progress_printer(console, progress, task), force=force or None
        )
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    for s in report.sources:
        line = f"{s.name:<28} {s.kind:<9} {s.status:<12} {s.new:>4} new {s.seen:>5} seen"
        if s.error:
            line += f"  ERROR: {s.error}"
        elif s.notes:
            line += f"  note: {s.notes[0]}"
        click.echo(line)
    failed = report.failed
    click.echo(f"{report.new} new item(s), {report.seen} already known; {len(failed)} source(s) failed.")


@click.command()
@click.option("--no-web", is_flag=True, help="Run only the scheduler, not the web app.")
@click.pass_context
def run(ctx: click.Context, no_web: bool) -> None:
    """Run the scheduler (collection, classification, digest, surge alerts) and the web app in one process.

    Stops cleanly on SIGTERM or Ctrl-C; jobs persist in state_dir/scheduler.db across restarts.

    \b
    Example:
      misinfo run
      misinfo run --no-web
    """
    a = app(ctx)
    if a.config.queue is not None:
        raise UsageError(
            "the config has a queue: section (distributed work): start `misinfo worker` and `misinfo beat`"
            " instead of `misinfo run`, and `misinfo serve` for the web app (docs/deploy.md)"
        )
    from monitor.scheduler import serve  # lazy: APScheduler, SQLAlchemy, every stage; only for `run`

    serve(a.config, web=not no_web, echo=click.echo)  # one Config for the scheduler and the web app


def register(cli: click.Group) -> None:
    cli.add_command(collect)
    cli.add_command(run)
