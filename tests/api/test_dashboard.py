import re

from api.main import DASHBOARD
from tests.api.conftest import auth


def test_the_dashboard_is_served_whole_and_offline(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard/"
    html = client.get("/dashboard/")
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', html.text) if not a.startswith("data:")]
    assert {"app.js", "sweeps.js", "histogram.js", "reports.js", "style.css"} <= set(assets)
    for name in assets:
        assert client.get(f"/dashboard/{name}").status_code == 200, name
    for path in DASHBOARD.iterdir():  # nothing fetched from elsewhere: GPU servers are often offline
        text = path.read_text().replace('"http://www.w3.org/2000/svg"', "")  # SVG's namespace names, never fetched
        assert not re.search(r"https?://", text), path.name


def test_the_dashboard_never_renders_server_text_as_html():
    for path in DASHBOARD.glob("*.js"):
        script = path.read_text()
        assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script


def test_me_names_the_caller(client):
    assert client.get("/v1/me", headers=auth(client, "bob")).json() == {"name": "bob", "role": "member"}
    assert client.get("/v1/me", headers=auth(client, "admin")).json()["role"] == "admin"
    assert client.get("/v1/me").status_code == 401
