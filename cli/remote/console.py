"""The terminal of `sth remote`: its two consoles (results on stdout, progress and errors on stderr), shared
column and option types, and how times are shown. Tests replace `out` and `err` here."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column

out = Console()
err = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="print the API's JSON instead of a table")]


def ID_COLUMN() -> Column:
    return Column("id", no_wrap=True, min_width=32)  # ids are copied into other commands: never cut them


def clock(at: str | None) -> str:
    """An ISO timestamp as the UTC date and time a log line carries (YYYY-MM-DD HH:MM:SS)."""
    return (at or "")[:19].replace("T", " ")
