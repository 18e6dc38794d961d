"""API keys: random tokens shown once, stored as a SHA-256 hash (they carry 256 bits of entropy, so a slow
password hash adds nothing); the public prefix finds the row, a constant-time comparison checks the hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from store.models import ApiKey, Role, User, aware, utcnow

TOKEN_PREFIX = "sth_"
PREFIX_CHARS = 12  # characters after TOKEN_PREFIX that are stored in clear to find the key


def key_prefix(token: str) -> str:
    """The public part of a token, stored in clear to find its row."""
    return token.removeprefix(TOKEN_PREFIX)[:PREFIX_CHARS]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, name: str, role: Role = Role.member) -> User:
    if session.scalars(select(User).where(User.name == name)).first() is not None:
        raise ValueError(f"user {name!r} exists already")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    return user


def create_key(session: Session, user: User, name: str = "") -> str:
    """A new key for `user`; the token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(user_id=user.id, prefix=key_prefix(token), key_hash=_hash(token),
                       name=name))  # fmt: skip
    session.flush()
    return token


TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key
KEY_TOUCHED = "sth.key_touched"  # session.info flag: authenticate wrote last_used_at


def authenticate(session: Session, token: str) -> User | None:
    """The user a token belongs to, or None (unknown, wrong or revoked); the caller commits at once (see `touch`)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    key = session.scalars(
        select(ApiKey).where(ApiKey.prefix == key_prefix(token)).options(joinedload(ApiKey.user))
    ).first()
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, _hash(token)):
        return None
    touch(session, key)
    return key.user


def touch(session: Session, key: ApiKey) -> None:
    """Record when a key was last used, at most once per TOUCH_EVERY, without ever waiting for another request:
    the row is updated only if nobody holds its lock (SKIP LOCKED; SQLite has no row locks), and the caller commits
    at once, so a busy key's row is never locked across a request (a lock held while a request waited for a thread
    once locked up the API: every thread waited on the row)."""
    now = utcnow()
    if key.last_used_at is not None and now - aware(key.last_used_at) < TOUCH_EVERY:
        return
    free = select(ApiKey.id).where(ApiKey.id == key.id).with_for_update(skip_locked=True).scalar_subquery()
    stale = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - TOUCH_EVERY)
    done = session.execute(update(ApiKey).where(ApiKey.id == free, stale).values(last_used_at=now),
                           execution_options={"synchronize_session": False})  # fmt: skip
    if done.rowcount:  # type: ignore[attr-defined]
        set_committed_value(key, "last_used_at", now)  # what the row holds now, without writing it again
        session.info[KEY_TOUCHED] = True  # the caller commits at once


def find_user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).first()


def list_keys(session: Session, user: User | None = None) -> list[ApiKey]:
    """Keys (their public prefixes and dates, never a secret), newest first; one user's or everyone's."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc())
    if user is not None:
        query = query.where(ApiKey.user_id == user.id)
    return list(session.scalars(query))


def get_key(session: Session, prefix: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()


class LastAdminKey(ValueError):
    """Revoking the key would leave no active admin key: nobody could administer the service any more."""


def revoke_key(session: Session, key: ApiKey) -> ApiKey:
    """From now on the key authenticates nobody; revoking twice keeps the first time. LastAdminKey for the last
    active key of any admin (create another first: that is how an admin rotates it)."""
    if key.revoked_at is None:
        if key.user.role is Role.admin and _active_admin_keys(session) <= {key.id}:
            raise LastAdminKey(f"key {key.prefix} is the last active admin key: revoking it would lock everyone out "
                               "of administration; create another admin key first (POST /v1/keys, or `sth admin "
                               "create-key`), then revoke this one")  # fmt: skip
        key.revoked_at = utcnow()
        session.flush()
    return key


def _active_admin_keys(session: Session) -> set[str]:
    """The ids of every active admin key, their rows locked until the transaction ends (PostgreSQL: two admins
    revoking each other's last keys at once are serialised, and the second finds the first's revoked)."""
    query = (select(ApiKey.id).join(User, ApiKey.user_id == User.id)
             .where(User.role == Role.admin, ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)
             .with_for_update(of=ApiKey))  # fmt: skip
    return set(session.scalars(query))
