"""`misinfo users ...`: add, list, disable users; create API tokens."""

from __future__ import annotations

import json
import sys

import click

from monitor.cli.context import app
from monitor.errors import UsageError
from monitor.review import roles
from monitor.store import users as store_users


@click.group()
def users() -> None:
    """Manage the people who use the web app and the API.

    \b
    Example:
      misinfo users add lan --role analyst --email lan@example.gov.vn
    """


@users.command("add")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(roles.ROLE_NAMES),
    help=", ".join(roles.ROLE_NAMES) + " (manager: read-only, reads reports and receives digests).",
)
@click.option("--email", default=None, help="Email address (assignments and digests are sent there).")
@click.option(
    "--language",
    default=None,
    type=click.Choice(["vi", "en"]),
    help="Interface language (default: web.default_language).",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input instead of prompting."
)
@click.pass_context
def add(
    ctx: click.Context, name: str, role: str, email: str | None, language: str | None, password_stdin: bool
) -> None:
    """Create a user. The password is prompted for (twice) unless --password-stdin is given.

    \b
    Example:
      echo 'a-long-password' | misinfo users add lan --role analyst --password-stdin
    """
    a = app(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    if not password:
        raise UsageError("the password is empty — pass it on standard input with --password-stdin or type it")
    lang = language or a.config.web.default_language
    roles.check_role(role)
    user_id = store_users.create_user(a.db, name, password, role, email=email, language=lang, actor="cli")
    click.echo(f"User '{name}' created (id {user_id}, role {role}, language {lang}).")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List users with role, language and whether they are disabled or locked.

    \b
    Example:
      misinfo users list --json
    """
    rows = store_users.list_users(app(ctx).db)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No users yet: create one with `misinfo users add NAME --role ROLE`.")
        return
    width = max(len(r["username"]) for r in rows)
    for r in rows:
        flags = []
        if r["disabled"]:
            flags.append("disabled")
        if r["locked_until"]:
            flags.append(f"locked until {r['locked_until']}")
        extra = f"  [{', '.join(flags)}]" if flags else ""
        click.echo(f"{r['username']:<{width}}  {r['role']:<11}  {r['language']}  {r['email'] or '-'}{extra}")


@users.command("disable")
@click.argument("name")
@click.pass_context
def disable(ctx: click.Context, name: str) -> None:
    """Disable a user: no more logins, their API tokens stop working; history is kept.

    \b
    Example:
      misinfo users disable lan
    """
    store_users.disable_user(app(ctx).db, name, actor="cli")
    click.echo(f"User '{name}' disabled; their API tokens are revoked.")


@users.command("unlock")
@click.argument("name")
@click.pass_context
def unlock(ctx: click.Context, name: str) -> None:
    """Clear a user's lock after too many failed logins.

    \b
    Example:
      misinfo users unlock lan
    """
    store_users.unlock_user(app(ctx).db, name, actor="cli")
    click.echo(f"User '{name}' can log in again.")


@users.command("token")
@click.argument("name")
@click.pass_context
def token(ctx: click.Context, name: str) -> None:
    """Create a new API token for a user and print it on the last line (shown once; only its hash is kept).

    \b
    Example:
      TOKEN=$(misinfo users token lan | tail -n 1)
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/queue
    """
    db = app(ctx).db
    user = store_users.require_user(db, name)
    if user["disabled"]:
        raise UsageError(f"user '{name}' is disabled — a token would not work")
    value = store_users.create_token(db, name, actor="cli")
    click.echo(f"New API token for '{name}' ({user['role']}); store it now, it is not shown again:")
    click.echo(value)


def register(cli: click.Group) -> None:
    """Add the `users` group."""
    cli.add_command(users)
