"""`misinfo demo`: the whole product, offline, in one command."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.option(
    "--check", is_flag=True, help="Run the pipeline headless in a fresh workspace and check what it produced."
)
@click.option("--fresh", is_flag=True, help="Rebuild the demo workspace even when a complete one exists.")
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Demo workspace folder (default: demo-workspace/ in the project; --check uses a temporary one).",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port of the web app."
)
def demo(check: bool, fresh: bool, workspace: Path | None, port: int) -> None:
    """Show the whole product offline: sample sources on a local server, collect, classify, match,
    a digest through a local SMTP server, then the web app at http://127.0.0.1:8000.

    Needs no config file: the demo writes its own into the workspace. A second run reuses a complete
    workspace and is serving within seconds. Ctrl-C stops everything.

    \b
    Example:
      misinfo demo
      misinfo demo --fresh --port 8010
      misinfo demo --check
    """
    from monitor.demo.run import run_demo, run_demo_check  # lazy: every stage, the web app and aiosmtpd

    def echo(line: str) -> None:
        click.echo(line)

    if check:
        sys.exit(run_demo_check(workspace, echo=echo))
    sys.exit(run_demo(workspace, port=port, fresh=fresh, echo=echo))


def register(cli: click.Group) -> None:
    cli.add_command(demo)
