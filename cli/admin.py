"""`sth admin`: bootstrap users and API keys directly in the database (STH_DATABASE_URL)."""

from __future__ import annotations

from typing import Annotated

import typer

admin = typer.Typer(help="Users and API keys (talks to the database directly; for the server's operator).")


@admin.command("create-user")
def create_user(
    name: str, role: Annotated[str, typer.Option(help="member or admin")] = "member",
    key: Annotated[bool, typer.Option("--key/--no-key", help="also create and print an API key")] = True,
) -> None:  # fmt: skip
    """Create a user (and print a first API key, shown only once)."""
    from store.db import migrate, session_scope
    from store.keys import create_key
    from store.keys import create_user as make_user
    from store.models import Role

    if role not in ("member", "admin"):
        raise typer.BadParameter("role must be member or admin")
    migrate()
    try:
        with session_scope() as session:
            user = make_user(session, name, Role(role))
            token = create_key(session, user, "first") if key else None
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {name} ({role}) created")
    if token:
        typer.echo(token)


@admin.command("create-key")
def create_key_for(name: str, label: Annotated[str, typer.Option(help="what the key is for")] = "") -> None:
    """Create another API key for an existing user; the key is printed once and stored only as a hash."""
    from sqlalchemy import select

    from store.db import migrate, session_scope
    from store.keys import create_key
    from store.models import User

    migrate()
    with session_scope() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            typer.echo(f"error: no user {name!r}; create it with `sth admin create-user {name}`", err=True)
            raise typer.Exit(2)
        typer.echo(create_key(session, user, label))


@admin.command("list-keys")
def list_keys_of(user: Annotated[str | None, typer.Option(help="one user's keys")] = None) -> None:
    """API keys: public prefix, owner, label, dates (the secrets are not stored and cannot be shown)."""
    from rich.console import Console
    from rich.table import Table

    from store.db import migrate, session_scope
    from store.keys import find_user, list_keys

    migrate()
    table = Table("prefix", "user", "label", "created", "last used", "revoked")
    with session_scope() as session:
        owner = find_user(session, user) if user else None
        if user and owner is None:
            typer.echo(f"error: no user {user!r}", err=True)
            raise typer.Exit(2)
        for key in list_keys(session, owner):
            table.add_row(key.prefix, key.user.name, key.name, str(key.created_at)[:19],
                          str(key.last_used_at or "")[:19], str(key.revoked_at or "")[:19])  # fmt: skip
    Console().print(table)


@admin.command("revoke-key")
def revoke(prefix: Annotated[str, typer.Argument(help="the key's prefix (`sth admin list-keys`) or the key")]) -> None:
    """Revoke an API key at once: every request with it gets 401 from then on."""
    from store.db import migrate, session_scope
    from store.keys import LastAdminKey, get_key, key_prefix, revoke_key

    migrate()
    with session_scope() as session:
        key = get_key(session, key_prefix(prefix))
        if key is None:
            typer.echo(f"error: no key with prefix {prefix!r}; `sth admin list-keys` lists them", err=True)
            raise typer.Exit(2)
        try:
            revoke_key(session, key)
        except LastAdminKey as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"key {key.prefix} of {key.user.name} revoked")
