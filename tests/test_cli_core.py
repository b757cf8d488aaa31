"""init, status and the help of every command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
from click.testing import CliRunner, Result

from monitor.cli import cli


def test_init_twice_is_harmless(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    first = run_cli("init", "--admin", "alice", "--password-stdin", input="correct-horse-battery\n")
    assert first.exit_code == 0, first.output
    assert "created" in first.output
    second = run_cli("init", "--admin", "alice", "--password-stdin", input="another-password\n")
    assert second.exit_code == 0, second.output
    assert "already exists" in second.output
    status = json.loads(run_cli("status", "--json").output)
    assert status["users"] == 1


def test_init_prompts_without_stdin_flag(run_cli: Callable[..., Result]) -> None:
    result = run_cli("init", "--admin", "bob", input="long-password-1\nlong-password-1\n")
    assert result.exit_code == 0, result.output


def test_init_rejects_short_password(run_cli: Callable[..., Result]) -> None:
    result = CliRunner().invoke(cli, ["--config", "/nonexistent.yaml", "init", "--admin", "x"])
    assert result.exit_code == 2 and "not found" in result.output
    short = run_cli("init", "--admin", "carol", "--password-stdin", input="short\n")
    assert short.exit_code == 2
    assert "8 characters" in short.output


def test_status_json_shape(make_config: Callable[..., Path]) -> None:
    path = make_config(sources=[{"name": "feed-a", "kind": "rss", "url": "http://127.0.0.1:9/feed.xml"}])
    result = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["items"] == 0
    assert set(data["flagged"]) == {"new", "in_review", "linked", "dismissed", "escalated"}
    assert data["sources"][0]["name"] == "feed-a"
    assert {"name", "kind", "last_success", "last_error", "items_24h"} <= set(data["sources"][0])


def _walk(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_walk(cmd, prefix + name + " "))
    return out


def test_every_command_has_help_with_an_example() -> None:
    commands = _walk(cli)
    assert len(commands) >= 4
    lacking = [name for name, cmd in commands if not cmd.help or "Example" not in cmd.help]
    assert not lacking, f"add help text with an Example to: {lacking}"
    for name, _ in commands:
        result = CliRunner().invoke(cli, [*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_every_option_has_help() -> None:
    lacking = [
        f"{name} {param.name}"
        for name, cmd in _walk(cli)
        for param in cmd.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert not lacking, lacking


def test_top_level_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("check", "init", "status"):
        assert name in result.output
