"""API keys: random tokens shown once, stored as a SHA-256 hash (they carry 256 bits of entropy, so a slow
password hash adds nothing); the public prefix finds the row, a constant-time comparison checks the hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ApiKey, Role, User, utcnow

TOKEN_PREFIX = "sth_"
PREFIX_CHARS = 12  # characters after TOKEN_PREFIX that are stored in clear to find the key


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
    session.add(ApiKey(user_id=user.id, prefix=token[len(TOKEN_PREFIX) :][:PREFIX_CHARS], key_hash=_hash(token),
                       name=name))  # fmt: skip
    session.flush()
    return token


def authenticate(session: Session, token: str) -> User | None:
    """The user a token belongs to, or None (unknown, wrong or revoked)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix = token[len(TOKEN_PREFIX) :][:PREFIX_CHARS]
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, _hash(token)):
        return None
    key.last_used_at = utcnow()
    return key.user
