"""A device's readings as JSON or CSV, produced row by row (generators of byte chunks).

Work and memory per export are linear in what is sent and do not depend on how much is stored:
rows come from the store a page at a time, every row is written as soon as it is made, and CSV
columns are gathered in a dict in one pass (then the rows in a second pass). A CSV has at most
MAX_CSV_COLUMNS columns of their own; the keys beyond them go, per row, into one last column
("_more") as a JSON object, so a row never costs more than MAX_CSV_COLUMNS cells plus its data.

The generators yield b"" between rows that produce no output (the first CSV pass), so that the
server can see a client that left and stop.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

from iot_store import Store

MAX_CSV_COLUMNS = 1000
MORE_COLUMN = "_more"


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def decode(data: str) -> dict[str, Any]:
    """A stored reading; non-finite numbers (stored by older versions) become null."""
    value = json.loads(data, parse_constant=lambda _: None)
    return value if isinstance(value, dict) else {"value": value}


def finite_text(data: str) -> str:
    """Stored JSON text, fit to embed as is; rewritten only if it may hold NaN or Infinity."""
    if "NaN" not in data and "Infinity" not in data:
        return data
    return json.dumps(decode(data), separators=(",", ":"), allow_nan=False)


def json_export(store: Store, device: str, span: tuple[int, int] | None) -> Iterator[bytes]:
    yield b'{"device":' + json.dumps(device).encode() + b',"readings":['
    separator = b"\n"
    for ident, ts, data in store.rows(device, span) if span else ():
        yield (separator + b'{"id":%d,"received":"%s","data":' % (ident, iso(ts).encode())
               + finite_text(data).encode() + b"}")
        separator = b",\n"
    yield b"\n]}\n"


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, separators=(",", ":"))
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_export(store: Store, device: str, span: tuple[int, int] | None) -> Iterator[bytes]:
    columns: dict[str, None] = {}
    more = False
    for _, _, data in store.rows(device, span) if span else ():
        for key in decode(data):
            if key in columns:
                continue
            if len(columns) < MAX_CSV_COLUMNS:
                columns[key] = None
            else:
                more = True
        yield b""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header: list[object] = ["id", "received"] + [csv_cell(k) for k in columns]
    writer.writerow(header + ([MORE_COLUMN] if more else []))
    for ident, ts, data in store.rows(device, span) if span else ():
        reading = decode(data)
        row: list[object] = [ident, iso(ts)]
        row += [csv_cell(reading.get(k, "")) for k in columns]
        if more:
            rest = {k: v for k, v in reading.items() if k not in columns}
            row.append(csv_cell(rest) if rest else "")
        writer.writerow(row)
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()
    yield out.getvalue().encode()
