"""The API in-process on a migrated database and a filesystem broker (no worker: jobs stay queued). `client` runs on
SQLite; `db_client` on SQLite and on PostgreSQL, for what the database decides."""

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from store.db import session_scope
from store.keys import create_key, create_user
from store.models import Role
from store.settings import Settings


def _client(database_url, data_dir, monkeypatch, raise_server_exceptions=True):
    monkeypatch.setenv("STH_DATA_DIR", str(data_dir / "data"))  # uploaded datasets land here
    settings = Settings(database_url=database_url, broker_url=f"filesystem://{data_dir / 'q'}",
                        max_upload_bytes=5 << 20, max_dataset_bytes=5 << 20)  # fmt: skip
    with TestClient(create_app(settings), raise_server_exceptions=raise_server_exceptions) as c:
        with session_scope(settings.database_url) as session:
            c.keys = {n: create_key(session, create_user(session, n, r))
                      for n, r in (("admin", Role.admin), ("alice", Role.member), ("bob", Role.member))}  # fmt: skip
        c.settings = settings
        yield c


@pytest.fixture
def client(tmp_path, monkeypatch):
    yield from _client(f"sqlite:///{tmp_path / 'sth.db'}", tmp_path, monkeypatch)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_client(request, tmp_path_factory):
    """One app per database kind for a whole module (tables of requests that leave little behind); a 500 is an
    answer to check here (its JSON body), not an exception raised into the test."""
    from store.db import downgrade, migrate

    data_dir = tmp_path_factory.mktemp("api")
    url = f"sqlite:///{data_dir / 'sth.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        downgrade(url, "base")  # an empty schema, whatever an earlier module left
    migrate(url)
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _client(url, data_dir, monkeypatch, raise_server_exceptions=False)


def auth(client, who="alice"):
    return {"Authorization": f"Bearer {client.keys[who]}"}
