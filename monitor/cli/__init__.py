"""The `misinfo` command line. Each feature module registers its commands here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from monitor.cli import (
    classify,
    collect,
    core,
    demo,
    digest,
    ops,
    rebuttals,
    submit,
    unanswered,
    users,
    web,
    worker,
)
from monitor.cli.context import AppContext, CliError
from monitor.errors import MonitorError

# Feature modules' register(cli), in order: core first, it adds the `bench` group others extend.
COMMAND_MODULES: dict[str, Callable[[click.Group], None]] = {
    "core": core.register,
    "collect": collect.register,
    "classify": classify.register,
    "rebuttals": rebuttals.register,
    "users": users.register,
    "web": web.register,
    "digest": digest.register,
    "demo": demo.register,
    "ops": ops.register,
    "unanswered": unanswered.register,
    "submit": submit.register,
    "worker": worker.register,
}


class MonitorGroup(click.Group):
    """A click group that turns MonitorError into a one-line message and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            raise CliError(str(exc), exc.exit_code) from None


@click.group(cls=MonitorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="MISINFO_CONFIG",
    default="config.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Configuration file (env MISINFO_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
@click.version_option(package_name="misinfo-monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: bool) -> None:
    """misinfo-monitor: watch what is published about the programme, flag false claims,
    answer them with approved rebuttals.

    \b
    Example:
      misinfo --config config.yaml status
    """
    ctx.obj = AppContext(config_path=config_path, verbose=verbose)
    ctx.call_on_close(ctx.obj.close)


def _register_all() -> None:
    for register in COMMAND_MODULES.values():
        register(cli)


_register_all()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="misinfo")
