"""CSV as the service and the library write it (compare tables, training histories, a result's rows): one writer,
whose text cells cannot be evaluated by a spreadsheet that opens the file. A cell that starts with =, +, -, @, a tab
or a carriage return gets a leading single quote, as OWASP advises against CSV (formula) injection: a model named
`=HYPERLINK(...)` stays text. Numbers stay numbers. Torch-free."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: Any) -> Any:
    """`cell` as a spreadsheet shows it as written: a text cell starting like a formula is quoted with a leading '."""
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_START) else cell


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The header and the rows as CSV text (\\n line ends), every text cell spreadsheet_safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return out.getvalue()
