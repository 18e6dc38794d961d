"""Engines, sessions and migrations. Every process applies the Alembic migrations at start (never create_all)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from store.settings import get_settings

log = logging.getLogger(__name__)


MIGRATION_LOCK = 0x5748_4C41_4200  # PostgreSQL advisory lock held while migrating
POOL_MARGIN = 8  # connections beyond the API's request slots: event streams, /readyz, /metrics, a worker's threads


def make_engine(url: str, slots: int | None = None, **options: Any) -> Engine:
    """An engine whose pool holds a connection for every request the API serves at once (a request never waits for a
    connection while holding another resource), and on PostgreSQL statement, lock and idle-in-transaction timeouts,
    so that no statement, lock wait or forgotten transaction lasts for ever. SQLite gets its folder created, foreign
    keys enforced and a busy timeout (API and worker share the file). `slots`: requests served at once (default
    STH_API_CONCURRENCY)."""
    settings = get_settings()
    slots = settings.api_concurrency if slots is None else slots
    pooled = "poolclass" not in options  # migrations run unpooled, without timeouts (a migration may take long)
    if pooled:
        options = {"pool_size": slots + POOL_MARGIN, "max_overflow": POOL_MARGIN // 2,
                   "pool_timeout": 10, **options}  # fmt: skip
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **options)

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    if url.startswith("postgresql") and pooled:
        ms = {"statement_timeout": settings.db_statement_timeout_s, "lock_timeout": settings.db_lock_timeout_s,
              "idle_in_transaction_session_timeout": settings.db_idle_in_transaction_s}  # fmt: skip
        options.setdefault("connect_args", {"options": " ".join(f"-c {k}={round(v * 1000)}" for k, v in ms.items())})
    return create_engine(url, pool_pre_ping=True, **options)


@lru_cache
def engine_for(url: str, slots: int | None = None) -> Engine:
    return make_engine(url, slots)


def session_factory(url: str | None = None, slots: int | None = None) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url or get_settings().database_url, slots), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction on the database at `url` (default: STH_DATABASE_URL)."""
    with transaction(session_factory(url)) as session:
        yield session


def migrations_dir() -> Path:
    """The folder of the top-level `migrations` package (env.py, script.py.mako, versions/): a source checkout's or an
    installed wheel's, wherever the import system finds it. Located by find_spec, never imported: Alembic runs env.py
    itself, and store imports nothing of migrations (migrations imports store)."""
    spec = importlib.util.find_spec("migrations")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in map(Path, folders):
        if (folder / "env.py").is_file() and (folder / "script.py.mako").is_file():
            return folder
    found = f"a `migrations` at {folders} without env.py and script.py.mako" if folders else "no `migrations` package"
    raise RuntimeError(f"Alembic's scripts not found: {found} on sys.path (install sthlab, or run from its checkout)")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest)."""
    url = url or get_settings().database_url
    log.info("migrating %s to %s", url.split("@")[-1], revision)
    if not url.startswith("postgresql"):
        command.upgrade(alembic_config(url), revision)
        return
    # several API processes (uvicorn --workers) and workers start at once: one migrates, the others wait for it
    from sqlalchemy import text

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(url), revision)
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        engine.dispose()


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str | None]:
    """A new, empty PostgreSQL database (for tests and benchmarks), dropped with its connections afterwards; None if
    the server at `admin_url` does not answer."""
    import uuid

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        admin.dispose()
        yield None
        return
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        engine_for.cache_clear()  # close this process's pools on it before dropping
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
