"""Typed dependencies: the database session, the caller (from the Bearer key), the job queue; the ownership check
and the job and model lookups the routes share."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError, forbidden, not_found
from broker.sender import JobQueue
from store.db import transaction
from store.keys import KEY_TOUCHED, authenticate
from store.models import Job, Model, Role, User


def get_session(request: Request) -> Iterator[Session]:
    with transaction(request.app.state.sessions) as session:
        yield session
    if request.method not in SAFE_METHODS:  # committed a change: what this process reuses is stale (api.recent)
        request.app.state.recent_pages.invalidate()
        request.app.state.recent_keys.invalidate()


# "function": the transaction commits when the route returns, before the response is sent (by default FastAPI ends
# a yield dependency after sending: a client could read its 201 before the row was committed, or get a 201 for a
# commit that then failed)
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False, description="an API key from `sth admin create-key`")


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def current_user(request: Request, session: SessionDep, credentials: BearerDep) -> User:
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'")
    token = credentials.credentials
    # keys are printable ASCII; anything else is no key (and a NUL would be refused by PostgreSQL: a 500)
    user = None
    if token.isascii() and token.isprintable():
        digest = hashlib.sha256(token.encode()).hexdigest()
        user = request.app.state.recent_keys.get(digest, lambda: _authenticate(session, token))
    if user is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return user


def _authenticate(session: Session, token: str) -> User | None:
    user = authenticate(session, token)
    if session.info.pop(KEY_TOUCHED, False):
        session.commit()  # ends the key's last_used_at write now: no request holds its row until it ends
    if user is not None:
        session.expunge(user)  # reused by later requests (api.recent): no rollback of this session may expire it
    return user


UserDep = Annotated[User, Depends(current_user)]


def require_owner(user: User, owner_id: str, what: str) -> None:
    """Members change only their own things; admins change everything."""
    if user.role is not Role.admin and user.id != owner_id:
        raise forbidden(f"this {what} belongs to another member; only its owner or an admin may change it")


def get_job_or_404(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise not_found("job", job_id)
    return job


def get_model_or_404(session: Session, model_id: str) -> Model:
    model = session.get(Model, model_id)
    if model is None:
        raise not_found("model", model_id)
    return model


def get_queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.queue
    return queue


QueueDep = Annotated[JobQueue, Depends(get_queue)]
