import re

from api.main import DASHBOARD
from tests.api.conftest import auth


def test_the_dashboard_is_served_whole_and_offline(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard/"
    html = client.get("/dashboard/")
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert {"app.js", "style.css"} <= set(assets)
    for name in ("app.js", "style.css"):
        assert client.get(f"/dashboard/{name}").status_code == 200
    for path in DASHBOARD.iterdir():  # nothing fetched from elsewhere: GPU servers are often offline
        assert not re.search(r"https?://", path.read_text()), path.name


def test_the_dashboard_never_renders_server_text_as_html():
    script = (DASHBOARD / "app.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script


def test_me_names_the_caller(client):
    assert client.get("/v1/me", headers=auth(client, "bob")).json() == {"name": "bob", "role": "member"}
    assert client.get("/v1/me", headers=auth(client, "admin")).json()["role"] == "admin"
    assert client.get("/v1/me").status_code == 401
