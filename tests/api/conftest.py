"""The API in-process on a migrated SQLite database and a filesystem broker (no worker: jobs stay queued)."""

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from store.db import session_scope
from store.keys import create_key, create_user
from store.models import Role
from store.settings import Settings


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path / "data"))  # uploaded datasets land here
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sth.db'}", broker_url=f"filesystem://{tmp_path / 'q'}",
                        max_upload_bytes=5 << 20, max_dataset_bytes=5 << 20)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        with session_scope(settings.database_url) as session:
            c.keys = {n: create_key(session, create_user(session, n, r))
                      for n, r in (("admin", Role.admin), ("alice", Role.member), ("bob", Role.member))}  # fmt: skip
        c.settings = settings
        yield c


def auth(client, who="alice"):
    return {"Authorization": f"Bearer {client.keys[who]}"}
