"""One error family. The CLI and the web app turn these into one-line messages."""

from __future__ import annotations


class MonitorError(Exception):
    """Base class: a problem the user can understand and fix. Exit code 1 in the CLI."""

    exit_code = 1


class ConfigError(MonitorError):
    """The configuration file is missing, unreadable or invalid. Exit code 2."""

    exit_code = 2


class UsageError(MonitorError):
    """A command was called with arguments that cannot work. Exit code 2."""

    exit_code = 2


class StoreError(MonitorError):
    """The database cannot be opened, migrated or written."""


class NotFound(MonitorError):
    """A named object (user, item, rebuttal, source) does not exist."""


class PermissionDenied(MonitorError):
    """The acting user's role does not allow this action."""


class Conflict(MonitorError):
    """The object was changed by someone else first (e.g. an item already handled)."""


class FetchError(MonitorError):
    """A network fetch failed (timeout, too large, bad status, redirect loop...)."""


class ImportFileError(MonitorError):
    """An import file is malformed; the message names the row and the fix."""


class ModelError(MonitorError):
    """A model cannot be loaded, trained or applied."""


class MailError(MonitorError):
    """Email could not be sent (SMTP unreachable, refused, auth failed)."""
