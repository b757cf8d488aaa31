"""`misinfo serve`: the review web app and JSON API."""

from __future__ import annotations

import click

from monitor.cli.context import app


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: web.host from the config).")
@click.option("--port", default=None, type=int, help="Port to listen on (default: web.port from the config).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the review web app and the JSON API (OpenAPI docs at /docs).

    \b
    Example:
      misinfo serve --host 127.0.0.1 --port 8000
    """
    import uvicorn  # lazy: the web app in the CLI (FastAPI, templates) loads only for `serve`

    from monitor.web.app import create_app  # lazy: the web app in the CLI

    cfg = app(ctx).config
    web_app = create_app(cfg)
    bind_host = host or cfg.web.host
    bind_port = port or cfg.web.port
    click.echo(f"Serving on http://{bind_host}:{bind_port} (API docs at /docs); Ctrl+C stops.")
    # One worker: SQLite is the store; concurrency comes from the thread pool and WAL.
    uvicorn.run(web_app, host=bind_host, port=bind_port, log_level="info", proxy_headers=False)


def register(cli: click.Group) -> None:
    """Add the `serve` command."""
    cli.add_command(serve)
