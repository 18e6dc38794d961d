import os
import uuid

import pytest
import torch

torch.set_num_threads(2)

POSTGRES_ADMIN_URL = os.environ.get("STH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def mnist5k_train():
    from sthlib.data import load_dataset

    return load_dataset("mnist-5k", "train")


def _postgres_database():
    """A fresh PostgreSQL database for this test session (dropped afterwards); None if no server answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"sth_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        return admin, None
    return admin, name


@pytest.fixture(scope="session")
def postgres_url():
    from sqlalchemy import text

    admin, name = _postgres_database()
    if name is None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} (CI must start it)")
        pytest.skip("PostgreSQL is not reachable; set STH_TEST_POSTGRES_URL")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    yield url
    from store.db import engine_for

    engine_for.cache_clear()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A migrated, empty database of each kind."""
    from store.db import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sth.db'}"
        migrate(url)
        return url
    url = request.getfixturevalue("postgres_url")
    from store.db import downgrade

    downgrade(url, "base")  # each test starts from an empty schema
    migrate(url)
    return url
