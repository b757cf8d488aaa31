"""What every command shares: the loaded config, the database, logging, progress bars."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click
import sqlite_utils

from monitor.config import Config, load_config
from monitor.logs import setup_logging
from monitor.store import connect


class CliError(click.ClickException):
    """A MonitorError as click shows it: one line, the error's exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


@dataclass
class AppContext:
    config_path: str
    verbose: bool = False
    _config: Config | None = None
    _db: sqlite_utils.Database | None = None
    _closers: list[Any] = field(default_factory=list)

    @property
    def config(self) -> Config:
        """The validated configuration (loaded on first use, so --help works without one)."""
        if self._config is None:
            self._config = load_config(self.config_path)
            setup_logging(self._config, self.verbose)
        return self._config

    @property
    def db(self) -> sqlite_utils.Database:
        """The database, opened and migrated on first use."""
        if self._db is None:
            self._db = connect(self.config.database_path)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None


def app(ctx: click.Context) -> AppContext:
    """The AppContext of the running command."""
    obj = ctx.find_object(AppContext)
    assert obj is not None
    return obj
