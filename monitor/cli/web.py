"""`misinfo serve`: the review web app and JSON API."""

from __future__ import annotations

import click

from monitor.cli.context import app


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: web.host from the config).")
@click.option("--port", default=None, type=int, help="Port to listen on (default: web.port from the config).")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes (default: web.workers from the config; 0 there means one per CPU core).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the review web app and the JSON API (OpenAPI docs at /docs).

    \b
    Example:
      misinfo serve --host 127.0.0.1 --port 8000 --workers 4
    """
    from monitor.web import server  # lazy: the web app in the CLI (FastAPI, templates) loads only for `serve`

    cfg = app(ctx).config
    bind_host = host or cfg.web.host
    bind_port = port or cfg.web.port
    count = workers or cfg.web.worker_count
    click.echo(
        f"Serving on http://{bind_host}:{bind_port} (API docs at /docs) with {count} worker process(es); "
        "Ctrl+C stops."
    )
    server.run(cfg, host=bind_host, port=bind_port, workers=count)


def register(cli: click.Group) -> None:
    """Add the `serve` command."""
    cli.add_command(serve)
