"""The `sth remote` Typer app; each module of cli/remote/ registers its commands on it."""

from __future__ import annotations

import typer

remote = typer.Typer(help="Use a running STh Lab server (STH_URL, default http://127.0.0.1:8000; STH_API_KEY).")
