"""Reading what `sth remote` prints: rich tables back into cells."""


def table_rows(text):
    """A rich table's body as {first column (its wrapped lines joined): the other cells}."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        first, *cells = (c.strip() for c in line.split("│")[1:-1])
        if cells[0]:  # a new row (the n column is never wrapped)
            key, rows[first] = first, cells
        else:
            rows[f"{key} {first}".strip()] = rows.pop(key)
            key = f"{key} {first}".strip()
    return rows
