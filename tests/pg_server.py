"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl from Debian's postgresql-15 into a temporary
folder, its unix socket in that folder, TCP on 127.0.0.1 only (a free port), small and without fsync.

Root cannot run initdb/postgres: as root the server runs as the `postgres` user (Debian's package makes it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

PG_BIN = Path(os.environ.get("MISINFO_PG_BIN", "/usr/lib/postgresql/15/bin"))
INSTALL = (
    "apt-get install -y postgresql (Debian's postgresql-15: initdb and pg_ctl in /usr/lib/postgresql/15/bin)"
)


def available() -> bool:
    """Whether initdb and pg_ctl are installed (and psycopg importable)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return (PG_BIN / "initdb").is_file() and (PG_BIN / "pg_ctl").is_file()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One server; `url(schema)` gives a URL whose search_path is a fresh schema (one per test)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="misinfo-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PgServer:
        if self.as_root:
            import pwd

            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root}"
            " -c shared_buffers=64MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=60"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def url(self, schema: str | None = None) -> str:
        base = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        return base if schema is None else f"{base}?options=-csearch_path%3D{schema}"

    def fresh_url(self) -> str:
        """A URL onto a new, empty schema: a clean database for one test."""
        import psycopg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return self.url(schema)

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
