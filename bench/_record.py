"""Append benchmark figures to docs/benchmarks.md with the date, the machine and the command."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every figure here was printed by a script in `bench/` (or a `misinfo bench` command) and appended
with the date, the machine and the command that reproduces it. Timings on shared 2-core machines are
noisy: compare ratios measured in the same run, not absolute numbers across runs.
"""


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu}){mem}, Python {platform.python_version()}"


def record(title: str, figures: dict[str, object], command: str | None = None, notes: str = "") -> None:
    """Print the figures and append them as a section of docs/benchmarks.md."""
    cmd = command or " ".join(shlex.quote(a) for a in ["python", *sys.argv])
    lines = [
        "",
        f"## {title} — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"- machine: {machine()}",
        f"- command: `{cmd}`",
    ]
    lines += [f"- {key}: {value}" for key, value in figures.items()]
    if notes:
        lines += ["", notes]
    text = "\n".join(lines) + "\n"
    print(text)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    if not DOC.exists():
        DOC.write_text(HEADER, encoding="utf-8")
    with DOC.open("a", encoding="utf-8") as fh:
        fh.write(text)
