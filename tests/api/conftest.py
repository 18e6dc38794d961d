"""The API in-process on a migrated database and a filesystem broker (no worker: jobs stay queued). `client` runs on
SQLite; `db_client` on SQLite and on PostgreSQL, for what the database decides."""

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from sthlib.specs import preset
from store.blobs import put_blob
from store.db import session_scope
from store.keys import create_key, create_user, find_user
from store.models import Job, JobKind, JobStatus, Model, Role
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


def assert_error_shape(response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str), body
    return body


@pytest.fixture(scope="module")
def world(db_client):
    """A job and a model to point requests at; the job has finished, so that an events stream would end."""
    with session_scope(db_client.settings.database_url) as session:
        alice = find_user(session, "alice")
        job = Job(kind=JobKind.train, status=JobStatus.cancelled, owner_id=alice.id, spec={}, spec_hash="0" * 64)
        session.add(job)
        model = stored_model(session, alice.id, "m")
        session.flush()
        return {"{job}": job.id, "{model}": model.id}


def stored_model(session, owner_id: str, name: str) -> Model:
    blob = put_blob(session, b"weights")
    model = Model(owner_id=owner_id, name=name, origin="uploaded", arch="small_cnn", dataset="mnist-5k", color="gray",
                  in_channels=1, num_classes=10, input_scale="unit", blob_id=blob.id)  # fmt: skip
    session.add(model)
    session.flush()
    return model


def trained_model(session, owner: str, alpha: float, seed: int, parent: str | None = None) -> Model:
    """A model of the smoke preset with `alpha` and `seed`, as its succeeded training job (child of `parent`, a sweep)
    stored it: its spec and setting hash, no weights beyond a stand-in blob, no history or results."""
    spec = preset("smoke", seed=seed, **{"reg.alpha": alpha})
    data, setting = spec.to_dict(), spec.setting_hash()
    job = Job(kind=JobKind.train, status=JobStatus.succeeded, owner_id=owner, spec=data, spec_hash=spec.spec_hash(),
              setting=setting, parent_id=parent)  # fmt: skip
    session.add(job)
    session.flush()
    model = stored_model(session, owner, f"a{alpha}-s{seed}")
    model.job_id, model.spec, model.setting = job.id, data, setting
    return model
