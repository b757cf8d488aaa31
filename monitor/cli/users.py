"""`misinfo users ...`: add, list, disable / enable users, passwords, sessions; API tokens."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import click

from monitor.cli.context import app
from monitor.config import parse_duration
from monitor.errors import UsageError
from monitor.notify.addresses import check_address
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
    if email is not None:
        try:
            email = check_address(email)  # syntax (email-validator): no line breaks, one address, a domain
        except ValueError as exc:
            raise UsageError(f"--email: {exc} — give one address such as lan@example.gov.vn") from None
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
    db = app(ctx).db
    store_users.unlock_user(db, name, actor="cli")
    if store_users.require_user(db, name)["disabled"]:
        click.echo(
            f"User '{name}' unlocked, but the account is disabled: it cannot log in until"
            f" `misinfo users enable {name}`."
        )
    else:
        click.echo(f"User '{name}' unlocked: can log in again.")


@users.command("enable")
@click.argument("name")
@click.pass_context
def enable(ctx: click.Context, name: str) -> None:
    """Let a disabled user log in again. API tokens revoked when disabling stay revoked: create new ones.

    \b
    Example:
      misinfo users enable lan
    """
    store_users.enable_user(app(ctx).db, name, actor="cli")
    click.echo(
        f"User '{name}' enabled: can log in again (create new API tokens with `misinfo users token {name}`)."
    )


@users.command("logout")
@click.argument("name")
@click.pass_context
def logout(ctx: click.Context, name: str) -> None:
    """Log a user out everywhere: every web session of the user ends at its next request.

    \b
    Example:
      misinfo users logout lan
    """
    ended = store_users.end_sessions(app(ctx).db, name, actor="cli")
    click.echo(f"User '{name}' logged out everywhere: {ended} session(s) ended.")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@click.pass_context
def password(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password; every web session of the user ends.

    \b
    Example:
      echo 'a-new-long-password' | misinfo users password lan --password-stdin
    """
    if password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = click.prompt(f"New password for {name}", hide_input=True, confirmation_prompt=True)
    if not value:
        raise UsageError("the password is empty — pass it on standard input with --password-stdin or type it")
    store_users.set_password(app(ctx).db, name, value, actor="cli")
    click.echo(f"Password of '{name}' changed; their sessions ended.")


@users.command("token")
@click.argument("name")
@click.option(
    "--expires",
    default="90d",
    show_default=True,
    help="Lifetime of the new token (30d, 12h, ...), or 'never'.",
)
@click.option("--list", "list_tokens", is_flag=True, help="List the user's tokens instead of creating one.")
@click.option("--revoke", "revoke_id", type=int, default=None, help="Revoke the user's token with this id.")
@click.pass_context
def token(ctx: click.Context, name: str, expires: str, list_tokens: bool, revoke_id: int | None) -> None:
    """Create a new API token for a user and print it on the last line (shown once; only its hash is kept).

    With --list, show the user's tokens (id, created, expires, last used, revoked); with --revoke ID,
    revoke one. Tokens expire after --expires (default 90 days).

    \b
    Example:
      TOKEN=$(misinfo users token lan | tail -n 1)
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/queue
      misinfo users token lan --list
      misinfo users token lan --revoke 3
    """
    db = app(ctx).db
    if list_tokens and revoke_id is not None:
        raise UsageError("give either --list or --revoke, not both")
    if list_tokens:
        rows = store_users.list_tokens(db, name)
        if not rows:
            click.echo(f"No tokens for '{name}': create one with `misinfo users token {name}`.")
            return
        click.echo(f"{'id':>5}  {'created':<25}  {'expires':<25}  {'last used':<25}  state")
        for r in rows:
            state = "revoked" if r["revoked"] else "active"
            click.echo(
                f"{r['id']:>5}  {r['created_at'] or '-':<25}  {r['expires_at'] or 'never':<25}"
                f"  {r['last_used_at'] or 'never':<25}  {state}"
            )
        return
    if revoke_id is not None:
        store_users.revoke_token(db, name, revoke_id, actor="cli")
        click.echo(f"Token {revoke_id} of '{name}' revoked.")
        return
    user = store_users.require_user(db, name)
    if user["disabled"]:
        raise UsageError(
            f"user '{name}' is disabled — a token would not work (`misinfo users enable {name}`)"
        )
    if expires.strip().lower() == "never":
        expires_at = None
    else:
        try:
            expires_at = datetime.now(UTC) + timedelta(seconds=parse_duration(expires))
        except (ValueError, OverflowError) as exc:
            raise UsageError(f"--expires: {exc}") from None
    value = store_users.create_token(db, name, actor="cli", expires_at=expires_at)
    until = f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires"
    click.echo(f"New API token for '{name}' ({user['role']}, {until}); store it now, it is not shown again:")
    click.echo(value)


def register(cli: click.Group) -> None:
    """Add the `users` group."""
    cli.add_command(users)
