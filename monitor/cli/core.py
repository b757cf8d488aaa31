"""Core commands: check, init, status; the `bench` group other modules add to."""

from __future__ import annotations

import json
import sys

import click

from monitor.cli.context import app
from monitor.errors import UsageError
from monitor.store import migrate
from monitor.store.collect import close_abandoned
from monitor.store.sources import sync_sources
from monitor.store.status import status as get_status
from monitor.store.users import create_user, get_user


@click.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the configuration file and report what it configures.

    \b
    Example:
      misinfo --config config.yaml check
    """
    cfg = app(ctx).config
    enabled = [s for s in cfg.sources if s.enabled]
    click.echo(f"OK: {app(ctx).config_path} is valid")
    click.echo(f"  database: {cfg.database_label}")
    click.echo(f"  sources: {len(cfg.sources)} ({len(enabled)} enabled)")
    for src in cfg.sources:
        click.echo(
            f"    - {src.name} [{src.kind}] every {int(src.interval)}s{'' if src.enabled else ' (disabled)'}"
        )
    click.echo(f"  topic: {cfg.topic.name}")
    click.echo(f"  model: {cfg.classifier.model} (fallback {cfg.classifier.fallback_model})")
    click.echo(
        f"  digest: {cfg.digest.time} {cfg.digest.timezone}, {len(cfg.digest.recipients)} recipient(s)"
    )
    missing = [
        env
        for env in (cfg.smtp.password_env, cfg.web.secret_key_env)
        if env and cfg.secret(env) is None and (env != cfg.smtp.password_env or cfg.smtp.username)
    ]
    for env in missing:
        click.echo(f"  warning: environment variable {env} is not set", err=True)
    for note in cfg.web.cookie_warnings():
        click.echo(f"  warning: {note}", err=True)


@click.command()
@click.option("--admin", "admin_name", required=True, help="User name of the first administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the admin password from standard input.")
@click.pass_context
def init(ctx: click.Context, admin_name: str, password_stdin: bool) -> None:
    """Create or migrate the database and create the first administrator.

    Safe to run again: migrations already applied are skipped and an existing admin is kept.

    \b
    Example:
      echo 'a-long-password' | misinfo init --admin alice --password-stdin
    """
    a = app(ctx)
    db = a.db
    applied = migrate(db)
    sync_sources(db, a.config.sources)
    existing = get_user(db, admin_name)
    if existing is not None:
        click.echo(
            f"Database ready at {a.config.database_label}; user '{admin_name}' already exists, kept as is."
        )
        return
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password for {admin_name}", hide_input=True, confirmation_prompt=True)
    if not password:
        raise UsageError("the password is empty — pass it on standard input with --password-stdin or type it")
    create_user(db, admin_name, password, "admin", actor="cli:init")
    click.echo(f"Database ready at {a.config.database_label} ({len(applied)} migration(s) applied).")
    click.echo(f"Administrator '{admin_name}' created.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show counts (items, flagged by state, rebuttals, assignments) and per-source health.

    \b
    Example:
      misinfo status --json
    """
    a = app(ctx)
    sync_sources(a.db, a.config.sources)
    close_abandoned(a.db)  # a pass killed with kill -9 shows as interrupted, not ok
    data = get_status(a.db)
    if a.config.queue is not None:
        from monitor.distributed.health import health as queue_health  # lazy: Celery, redis-py only then

        data["distributed"] = queue_health(a.config)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"Database: {a.config.database_label}")
    click.echo(f"Items: {data['items']}")
    click.echo("Flagged: " + ", ".join(f"{k} {v}" for k, v in data["flagged"].items()))
    click.echo("Rebuttals: " + ", ".join(f"{k} {v}" for k, v in data["rebuttals"].items()))
    click.echo("Assignments: " + ", ".join(f"{k} {v}" for k, v in data["assignments"].items()))
    model = data["model"]
    if model.get("loaded"):
        click.echo(
            f"Encoder: {model['loaded']}"
            + (f" (FALLBACK: {model['fallback_reason']})" if model.get("fallback_reason") else "")
        )
    else:
        click.echo(f"Encoder: {a.config.classifier.model} (configured; loaded at the next classify)")
    click.echo("Sources:")
    if not data["sources"]:
        click.echo("  (none configured)")
    for s in data["sources"]:
        health = "error: " + s["last_error"] if s["last_error"] else "ok"
        if not s["last_error"] and s.get("warning"):
            health = "ok, warning: " + s["warning"]
        click.echo(
            f"  {s['name']:<24} {s['kind']:<9} last success {s['last_success'] or 'never'}; "
            f"{s['items_24h']} item(s) in 24h; {health}"
        )
    if "distributed" in data:
        from monitor.distributed.health import lines  # lazy: Celery and redis-py only with a queue: section

        for line in lines(data["distributed"]):
            click.echo(line)


@click.group()
def bench() -> None:
    """Measure quality on public benchmark data (figures printed; --json for machines).

    \b
    Example:
      misinfo bench classify --help
    """


def register(cli: click.Group) -> None:
    cli.add_command(check)
    cli.add_command(init)
    cli.add_command(status)
    cli.add_command(bench)
