"""Users and API keys over REST, so a team lead manages keys without a shell on the server: members create and
revoke their own keys, admins create users and revoke anyone's. Secrets are shown once, at creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep, UserDep, require_owner
from api.errors import ApiError, ErrorBody, forbidden, not_found, responses
from api.inputs import Name, Name64
from store.keys import LastAdminKey, create_key, create_user, find_user, get_key, key_prefix, list_keys, revoke_key
from store.models import ApiKey, Role, User

router = APIRouter(prefix="/v1", tags=["users"], responses=responses(401))
NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class UserPublic(BaseModel):
    name: str
    role: Role
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "carol", "role": "member"}]})
    name: str = Field(pattern=NAME, description="lowercase letters, digits, . _ -")
    role: Literal["member", "admin"] = "member"


class KeyPublic(BaseModel):
    prefix: str = Field(description="public: finds the key; the secret is never stored")
    user: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "laptop"}]})
    name: Name64 = Field("", description="what the key is for")
    user: Name | None = Field(None, description="admins only: create the key for this user")


class NewKey(BaseModel):
    key: str = Field(description="the API key: shown this once, keep it")
    details: KeyPublic


class NewUser(BaseModel):
    user: UserPublic
    key: str = Field(description="the user's first API key: shown this once")


def key_public(key: ApiKey) -> KeyPublic:
    return KeyPublic(prefix=key.prefix, user=key.user.name, name=key.name, created_at=key.created_at,
                     last_used_at=key.last_used_at, revoked_at=key.revoked_at)  # fmt: skip


def user_public(user: User) -> UserPublic:
    return UserPublic(name=user.name, role=user.role, created_at=user.created_at)


def _user_or_404(session: SessionDep, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise not_found("user", name)
    return user


@router.get("/users")
def list_users(session: SessionDep, _: UserDep) -> list[UserPublic]:
    """The team: names and roles."""
    return [user_public(u) for u in session.query(User).order_by(User.created_at)]


@router.post("/users", status_code=201, responses=responses(403, 409))
def add_user(body: UserCreate, session: SessionDep, caller: UserDep) -> NewUser:
    """Admins add a member (or an admin) and get the first API key to hand over."""
    if caller.role is not Role.admin:
        raise forbidden("only an admin can add users")
    if find_user(session, body.name) is not None:
        raise ApiError(409, "conflict", f'user {body.name!r} exists already; POST /v1/keys with "user" adds a key')
    user = create_user(session, body.name, Role(body.role))
    return NewUser(user=user_public(user), key=create_key(session, user, "first"))


@router.get("/keys")
def keys(session: SessionDep, caller: UserDep,
         user: Annotated[Name | None, Query(description="admins: one user's keys (default: everyone's)")] = None,
         ) -> list[KeyPublic]:  # fmt: skip
    """Your keys (admins: everyone's, or one user's): prefixes and dates, never a secret."""
    if caller.role is Role.admin:
        owner = _user_or_404(session, user) if user else None
    else:
        if user not in (None, caller.name):
            raise forbidden("members list only their own keys")
        owner = caller
    return [key_public(k) for k in list_keys(session, owner)]


@router.post("/keys", status_code=201, responses=responses(403, 404))
def add_key(body: KeyCreate, session: SessionDep, caller: UserDep) -> NewKey:
    """A new API key for yourself (admins: for anyone); the key is in the response only."""
    owner = caller if body.user in (None, caller.name) else _user_or_404(session, body.user or "")
    require_owner(caller, owner.id, "user's keys")
    token = create_key(session, owner, body.name)
    key = get_key(session, key_prefix(token))
    assert key is not None
    return NewKey(key=token, details=key_public(key))


LAST_ADMIN_KEY: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "the last active admin key: create another one first"}
}


@router.delete("/keys/{prefix}", responses={**responses(403, 404), **LAST_ADMIN_KEY})
def revoke(prefix: Name, session: SessionDep, caller: UserDep) -> KeyPublic:
    """Revoke a key at once (your own; admins: anyone's). Requests with it get 401 from then on. The last active
    admin key cannot be revoked (409): to rotate it, create a new admin key, then revoke the old one."""
    key = get_key(session, prefix)
    if key is None:
        raise not_found("key", prefix)
    require_owner(caller, key.user_id, "key")
    try:
        return key_public(revoke_key(session, key))
    except LastAdminKey as e:
        raise ApiError(409, "last_admin_key", str(e), {"prefix": key.prefix}) from None
