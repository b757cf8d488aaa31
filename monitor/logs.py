"""Logging for every process: warnings to stderr, INFO and up to state_dir/logs/misinfo.log.

Several processes write the one log file (the web server's workers, the scheduler, a `misinfo collect`
run from cron). The standard RotatingFileHandler assumes it is the only writer: two of them rotating at
once lose lines or rename each other's files. `SharedRotatingFileHandler` appends (O_APPEND, so lines
from several processes interleave whole), rotates under an exclusive lock on a sibling lock file after
re-checking the size on disk, and reopens when another process has rotated the file under it.
"""

from __future__ import annotations

import fcntl
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from monitor.config import Config

LOG_MAX_BYTES = 10_000_000
LOG_BACKUPS = 5

_logging_done = False


class SharedRotatingFileHandler(logging.handlers.WatchedFileHandler):
    """Size-based rotation that several processes can share (see the module docstring)."""

    def __init__(
        self, filename: str | os.PathLike[str], max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS
    ):
        super().__init__(filename, mode="a", encoding="utf-8", delay=False)
        self.max_bytes = max_bytes
        self.backups = backups
        self.lock_path = f"{self.baseFilename}.lock"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._too_big():
                self._rotate()
        except OSError:
            self.handleError(record)
        super().emit(record)  # reopens the file first when another process rotated it

    def _too_big(self) -> bool:
        try:
            return os.stat(self.baseFilename).st_size >= self.max_bytes
        except FileNotFoundError:
            return False

    def _rotate(self) -> None:
        fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not self._too_big():  # another process rotated while we waited for the lock
                return
            for i in range(self.backups - 1, 0, -1):
                older = f"{self.baseFilename}.{i}"
                if os.path.exists(older):
                    os.replace(older, f"{self.baseFilename}.{i + 1}")
            if self.backups > 0:
                os.replace(self.baseFilename, f"{self.baseFilename}.1")
            else:
                os.truncate(self.baseFilename, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def setup_logging(cfg: Config, verbose: bool = False) -> None:
    """Log warnings to stderr (debug with -v) and everything from INFO to state_dir/logs/misinfo.log.

    Once per process; later calls do nothing."""
    global _logging_done
    if _logging_done:
        return
    _logging_done = True
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(fmt)
    root.addHandler(stderr)
    try:
        logs = cfg.state_path / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        file_handler = SharedRotatingFileHandler(Path(logs / "misinfo.log"))
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)
    except OSError as exc:
        root.warning("cannot write log file under %s: %s", cfg.state_path, exc)
