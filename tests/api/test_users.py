from tests.api.conftest import assert_error_shape, auth


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_members_manage_their_own_keys(client):
    made = client.post("/v1/keys", headers=auth(client, "bob"), json={"name": "laptop"})
    assert made.status_code == 201, made.text
    token, details = made.json()["key"], made.json()["details"]
    assert details["user"] == "bob" and details["name"] == "laptop" and token.startswith("sth_")
    assert client.get("/v1/me", headers=bearer(token)).json()["name"] == "bob"
    mine = client.get("/v1/keys", headers=auth(client, "bob")).json()
    assert {k["user"] for k in mine} == {"bob"} and len(mine) == 2
    assert all(set(k) == {"prefix", "user", "name", "created_at", "last_used_at", "revoked_at"} for k in mine)
    assert client.get("/v1/keys", headers=auth(client, "bob"), params={"user": "alice"}).status_code == 403
    assert client.post("/v1/keys", headers=auth(client, "bob"), json={"user": "alice"}).status_code == 403
    alices = client.get("/v1/keys", headers=auth(client, "admin"), params={"user": "alice"}).json()
    refused = client.delete(f"/v1/keys/{alices[0]['prefix']}", headers=auth(client, "bob"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    revoked = client.delete(f"/v1/keys/{details['prefix']}", headers=auth(client, "bob"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get("/v1/me", headers=bearer(token)).status_code == 401
    assert client.delete("/v1/keys/nothing", headers=auth(client, "bob")).status_code == 404


def test_admins_add_users_and_revoke_anyones_key(client):
    assert client.post("/v1/users", headers=auth(client, "alice"), json={"name": "carol"}).status_code == 403
    made = client.post("/v1/users", headers=auth(client, "admin"), json={"name": "carol"})
    assert made.status_code == 201 and made.json()["user"]["role"] == "member"
    carol = made.json()["key"]
    assert client.get("/v1/me", headers=bearer(carol)).json() == {"name": "carol", "role": "member"}
    again = client.post("/v1/users", headers=auth(client, "admin"), json={"name": "carol"})
    assert again.status_code == 409
    bad = client.post("/v1/users", headers=auth(client, "admin"), json={"name": "Carol Smith"})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "name"
    (key,) = client.get("/v1/keys", headers=auth(client, "admin"), params={"user": "carol"}).json()
    assert client.delete(f"/v1/keys/{key['prefix']}", headers=auth(client, "admin")).status_code == 200
    assert client.get("/v1/me", headers=bearer(carol)).status_code == 401
    for_carol = client.post("/v1/keys", headers=auth(client, "admin"), json={"user": "carol", "name": "new"})
    assert for_carol.status_code == 201 and for_carol.json()["details"]["user"] == "carol"
    assert [u["name"] for u in client.get("/v1/users", headers=auth(client, "bob")).json()] == [
        "admin", "alice", "bob", "carol"]  # fmt: skip


def test_the_last_active_admin_key_cannot_be_revoked_but_can_be_rotated(db_client):
    admin = auth(db_client, "admin")
    (key,) = db_client.get("/v1/keys", headers=admin, params={"user": "admin"}).json()
    prefix = key["prefix"]
    refused = db_client.delete(f"/v1/keys/{prefix}", headers=admin)
    assert refused.status_code == 409, refused.text
    error = assert_error_shape(refused)["error"]
    assert error["code"] == "last_admin_key" and "create another admin key first" in error["message"], error
    assert db_client.get("/v1/me", headers=admin).status_code == 200  # still works
    rotated = db_client.post("/v1/keys", headers=admin, json={"name": "rotated"}).json()
    assert db_client.delete(f"/v1/keys/{prefix}", headers=bearer(rotated["key"])).status_code == 200
    assert db_client.get("/v1/me", headers=admin).status_code == 401
    new = rotated["details"]["prefix"]
    assert db_client.delete(f"/v1/keys/{new}", headers=bearer(rotated["key"])).status_code == 409  # the last again
    db_client.keys["admin"] = rotated["key"]  # the module's app lives on: later tests sign in with the new key
