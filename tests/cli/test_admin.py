import pytest
from typer.testing import CliRunner

from cli.main import app
from store.db import engine_for, session_scope
from store.keys import authenticate, key_prefix
from store.settings import get_settings

runner = CliRunner()


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'sth.db'}"
    monkeypatch.setenv("STH_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    engine_for.cache_clear()


def sth_admin(*args, code=0):
    result = runner.invoke(app, ["admin", *args])
    assert result.exit_code == code, result.output
    return result.output


def test_an_operator_creates_lists_and_revokes_keys(database):
    first = sth_admin("create-user", "alice").strip().splitlines()[-1]
    second = sth_admin("create-key", "alice", "--label", "laptop").strip()
    with session_scope(database) as session:
        assert authenticate(session, first).name == authenticate(session, second).name == "alice"
    listed = sth_admin("list-keys", "--user", "alice")
    assert key_prefix(first) in listed and key_prefix(second) in listed and "laptop" in listed
    assert first not in listed and second not in listed  # the secrets are not stored, so never shown
    assert "revoked" in sth_admin("revoke-key", second)  # the whole key works as well as its prefix
    with session_scope(database) as session:
        assert authenticate(session, second) is None and authenticate(session, first).name == "alice"
    assert "no key" in sth_admin("revoke-key", "sth_nothing-here", code=2)
    assert "exists already" in sth_admin("create-user", "alice", code=2)
    assert "no user 'bob'" in sth_admin("create-key", "bob", code=2)


def test_the_last_admin_key_is_refused_until_another_exists(database):
    first = sth_admin("create-user", "root", "--role", "admin").strip().splitlines()[-1]
    assert "last active admin key" in sth_admin("revoke-key", first, code=1)
    second = sth_admin("create-key", "root").strip()
    assert "revoked" in sth_admin("revoke-key", first)  # rotated: the new key keeps administration open
    with session_scope(database) as session:
        assert authenticate(session, first) is None and authenticate(session, second).name == "root"
