"""The REST client of `sth remote`: STH_URL and STH_API_KEY, one request with the API's error printed and the
command ended (exit 1), and KEY=VALUE options as nested JSON. Tests replace `client` here."""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer

from cli.remote import console


def client() -> httpx.Client:
    key = os.environ.get("STH_API_KEY", "")
    if not key:
        console.err.print("[red]error:[/red] set STH_API_KEY (printed by `sth serve`, or `sth admin create-key NAME`)")
        raise typer.Exit(2)
    url = os.environ.get("STH_URL", "http://127.0.0.1:8000")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def call(method: str, path: str, **kwargs: Any) -> Any:
    with client() as c:
        response = c.request(method, path, **kwargs)
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = error["message"]
        except (ValueError, KeyError):
            message = response.text
        console.err.print(f"[red]error {response.status_code}:[/red] {message}")
        raise typer.Exit(1)
    return response


def pairs(items: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE (JSON values) into a nested dict: reg.alpha=4 -> {"reg": {"alpha": 4}}."""
    from cli.evaluate import parse_param
    from sthlib.specs import nest_dotted

    return nest_dotted(dict(parse_param(item) for item in items or []))
