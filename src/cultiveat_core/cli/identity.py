"""Identity commands: users, tokens, audit verification and field-encryption keys."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click

from cultiveat_core.cli.commands import CORE_COMMANDS
from cultiveat_core.cli.context import cli_actor, fail, get_crm, require_migrated, run_service
from cultiveat_core.db.metadata import utcnow


def read_new_password() -> str:
    """Ask twice on a terminal; otherwise read two lines (password, confirmation) from stdin."""
    if sys.stdin.isatty():
        return str(
            click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
        )
    lines = sys.stdin.read().splitlines()
    if len(lines) < 2:
        fail("give the password twice on standard input (two lines: password, then the same again)")
    if lines[0] != lines[1]:
        fail("the two passwords differ; type the same password twice")
    return lines[0]


@click.group()
def users() -> None:
    """Users, roles and passwords."""


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, help="admin, marketing, sales, executive or an added role")
@click.option("--name", default="")
@click.option(
    "--no-password", is_flag=True, help="API-only user (no browser login until a password is set)"
)
def users_create(email: str, role: str, name: str, no_password: bool) -> None:
    """Create a user; asks for the password twice (stdin when not a terminal)."""
    crm = get_crm()
    require_migrated(crm)
    password = None if no_password else read_new_password()
    user = run_service(crm.users.create, cli_actor(), email, role, name=name, password=password)
    click.echo(f"created user {user.email} (id {user.id}, role {user.role})")


@users.command("set-password")
@click.argument("email")
def users_set_password(email: str) -> None:
    """Set a user's password (asked twice); ends the user's sessions."""
    crm = get_crm()
    require_migrated(crm)
    user = run_service(crm.users.get_by_email, email)
    password = read_new_password()
    run_service(crm.auth.set_password, cli_actor(), user.id, password)
    click.echo(f"password of {user.email} changed; their sessions were ended")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def users_list(as_json: bool) -> None:
    """List users."""
    crm = get_crm()
    require_migrated(crm)
    found = run_service(crm.users.list, cli_actor())
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"id": u.id, "email": u.email, "role": u.role, "is_active": u.is_active}
                    for u in found
                ]
            )
        )
        return
    for user in found:
        click.echo(
            f"{user.id:>5} {user.email:<40} {user.role}{'' if user.is_active else ' (inactive)'}"
        )


@users.command("set-role")
@click.argument("email")
@click.argument("role")
def users_set_role(email: str, role: str) -> None:
    """Give a user another role (their sessions end)."""
    crm = get_crm()
    require_migrated(crm)
    user = run_service(crm.users.get_by_email, email)
    run_service(crm.users.update, cli_actor(), user.id, role=role)
    click.echo(f"{user.email} now has role {role}")


@users.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Disable a user: tokens and sessions stop working at once."""
    crm = get_crm()
    require_migrated(crm)
    user = run_service(crm.users.get_by_email, email)
    run_service(crm.users.update, cli_actor(), user.id, is_active=False)
    click.echo(f"{user.email} deactivated")


@users.command("mfa-reset")
@click.argument("email")
def users_mfa_reset(email: str) -> None:
    """Remove a user's authenticator (lost phone); they enrol again at the next login."""
    crm = get_crm()
    require_migrated(crm)
    user = run_service(crm.users.get_by_email, email)
    run_service(crm.auth.disable_totp, cli_actor(), user.id)
    click.echo(f"MFA of {user.email} removed; they set it up again at their next login")


@users.command("reset-link")
@click.argument("email")
def users_reset_link(email: str) -> None:
    """Print a single-use password reset token (expires after CULTIVEAT_PASSWORD_RESET_MINUTES)."""
    crm = get_crm()
    require_migrated(crm)
    token = crm.auth.request_password_reset(email)
    if token is None:
        fail(f"no active user {email}")
    click.echo(token)


@click.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True)
@click.option("--expires-days", type=int, default=None, help="expire after this many days")
@click.option(
    "--scope", "scopes", multiple=True, help="permission (contacts.read) or prefix (contacts.*)"
)
def tokens_create(email: str, name: str, expires_days: int | None, scopes: tuple[str, ...]) -> None:
    """Create an API token for EMAIL; the token is the last line (shown once)."""
    crm = get_crm()
    require_migrated(crm)
    user = run_service(crm.users.get_by_email, email)
    expires = utcnow() + timedelta(days=expires_days) if expires_days else None
    token, plain = run_service(
        crm.tokens.create, cli_actor(), user, name=name, expires_at=expires, scopes=scopes
    )
    click.echo(f"token {token.id} for {user.email} ({user.role}); it is shown only once:")
    click.echo(plain)


@tokens.command("list")
@click.argument("email")
def tokens_list(email: str) -> None:
    """A user's tokens: id, name, scopes, expiry, last use (never the secret)."""
    crm = get_crm()
    require_migrated(crm)
    user = run_service(crm.users.get_by_email, email)
    for t in run_service(crm.tokens.list, cli_actor(), user.id):
        state = (
            "revoked"
            if t.revoked_at
            else f"expires {t.expires_at:%Y-%m-%d}"
            if t.expires_at
            else "no expiry"
        )
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        click.echo(
            f"{t.id:>5} {t.prefix}… {t.name:<20} {','.join(t.scopes) or '(role)'} {state}, {used}"
        )


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    crm = get_crm()
    run_service(crm.tokens.revoke, cli_actor(), token_id)
    click.echo(f"token {token_id} revoked")


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain: exit 1 and name the records when anything was altered or removed."""
    from cultiveat_core.services.audit import verify_chain

    crm = get_crm()
    require_migrated(crm)
    with crm.engine.connect() as conn:
        checked, problems = verify_chain(conn)
    for problem in problems[:50]:
        click.echo(problem, err=True)
    if problems:
        fail(f"audit chain BROKEN: {len(problems)} problem(s) in {checked} records")
    click.echo(f"audit chain intact: {checked} records verified")


@click.group()
def keys() -> None:
    """Field-encryption keys (CULTIVEAT_FIELD_ENCRYPTION_KEYS)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key; put it FIRST in CULTIVEAT_FIELD_ENCRYPTION_KEYS, then run `keys rotate`."""
    from cultiveat_core.crypto import generate_key

    click.echo(generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every encrypted field with the first key (then the old keys can be dropped)."""
    from cultiveat_core.privacy.encryption import rotate_all

    crm = get_crm()
    require_migrated(crm)
    if not crm.cipher.enabled:
        fail("CULTIVEAT_FIELD_ENCRYPTION_KEYS is not set")
    click.echo(json.dumps(rotate_all(crm)))


CORE_COMMANDS.extend([users, tokens, audit, keys])

from cultiveat_core.cli import backup as _backup  # noqa: E402, F401  (backup, restore)
