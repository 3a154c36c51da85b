"""The iot-receiver's dashboard (containers/iot-receiver/files/iot_dashboard.py): latest values,
a chart of a chosen time range drawn on the server as SVG, the same as plain HTML bars for
browsers that draw no SVG (Tor Browser's Safest level), exports of the range; no script anywhere,
and bounded work whatever is stored."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.templates.iot_app import TOKEN, Served, call, load, serve


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load(tmp_path, monkeypatch)


@pytest.fixture
def served(app: ModuleType, tmp_path: Path) -> Iterator[Served]:
    with serve(app, app.Store(str(tmp_path / "readings.db"))) as running:
        yield running


def store_readings(store: object, device: str, start: float, count: int, every: float,
                   make: object = None) -> None:
    """``count`` readings of ``device`` from ``start`` on, ``every`` seconds apart."""
    db = store.db  # type: ignore[attr-defined]
    db.execute("BEGIN")
    for i in range(count):
        data = make(i) if callable(make) else {"temp": 20 + i % 7, "hum": 50 - i % 5}
        db.execute("INSERT INTO readings (device, received, data) VALUES (?, ?, ?)",
                   (device, start + i * every, json.dumps(data)))
    db.execute("COMMIT")


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, \
            response.read()
    finally:
        conn.close()


def test_the_page_has_latest_values_charts_and_exports_and_no_script(served: Served) -> None:
    now = time.time()
    store_readings(served.store, "kitchen", now - 3000, 50, 60)
    call(served.port, "POST", "/api/v1/readings/kitchen", b'{"temp": 21.5, "note": "<i>"}',
         TOKEN)
    status, headers, page = get(served.port, "/?range=6h")
    assert status == 200 and headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert b"<script" not in page.lower() and b"http://" not in page and b"https://" not in page
    assert b"@font-face" not in page and b"<link" not in page  # no fonts, no files from elsewhere
    assert b"<h2>kitchen</h2>" in page and b"<h2>garden</h2>" in page
    assert b"<th>temp</th><td>21.5</td>" in page and b"&lt;i&gt;" in page
    # the chart (SVG) and the same without SVG, for Tor Browser's Safest level
    charts = re.findall(rb'<img src="(/chart/kitchen\.svg\?[^"]+)"', page)
    assert len(charts) == 1 and b"Safest" in page and b"<details>" in page
    assert page.count(b'<div class="bars">') == 2  # temp and hum of kitchen; garden has none
    # exports of the range
    assert re.search(rb'/api/v1/readings/kitchen\?from=\d+&amp;to=\d+&amp;limit=10000&amp;'
                     rb'format=csv', page)
    assert b"<strong>6h</strong>" in page and b'href="/?range=24h"' in page


def test_the_chart_is_an_svg_with_a_line_per_key(served: Served) -> None:
    now = time.time()
    store_readings(served.store, "kitchen", now - 3000, 50, 60)
    _, _, page = get(served.port, "/?range=1h")
    found = re.search(rb'<img src="(/chart/kitchen[^"]+)"', page)
    assert found is not None
    chart = found.group(1).replace(b"&amp;", b"&")
    status, headers, svg = get(served.port, chart.decode())
    assert status == 200 and headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert svg.startswith(b"<svg ") and b"<script" not in svg and b"href" not in svg
    assert svg.count(b"<polyline") == 2 and b">temp<" in svg and b">hum<" in svg
    points = re.search(rb'points="([^"]+)"', svg).group(1).split()  # type: ignore[union-attr]
    assert len(points) == 50


def test_a_device_and_a_custom_range(served: Served) -> None:
    now = time.time()
    store_readings(served.store, "kitchen", now - 10 * 86400, 10, 86400)
    day = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now - 5.5 * 86400))
    later = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now - 2.5 * 86400))
    status, _, page = get(served.port, f"/?device=kitchen&from={day}&to={later}")
    assert status == 200 and b"<h2>kitchen</h2>" in page and b"<h2>garden</h2>" not in page
    assert b"3 reading(s) drawn" in page
    # the export of that range holds those three
    from_ts = re.search(rb"from=(\d+)", page).group(1).decode()  # type: ignore[union-attr]
    to_ts = re.search(rb"to=(\d+)", page).group(1).decode()  # type: ignore[union-attr]
    status, body = call(served.port, "GET", f"/api/v1/readings/kitchen?from={from_ts}&to={to_ts}")
    assert status == 200 and len(json.loads(body)["readings"]) == 3
    status, body = call(served.port, "GET",
                        f"/api/v1/readings/kitchen?from={from_ts}&to={to_ts}&format=csv")
    assert status == 200 and body.count(b"\r\n") == 4  # the header and three rows


@pytest.mark.parametrize("query", ["range=2h", "from=yesterday", "from=2026-13-40",
                                   "from=2026-05-02&to=2026-05-01"])
def test_a_bad_range_is_refused(served: Served, query: str) -> None:
    assert get(served.port, f"/?{query}")[0] == 400
    assert get(served.port, f"/chart/kitchen.svg?{query}")[0] == 400
    assert get(served.port, "/chart/nobody.svg")[0] == 404


def test_a_chart_costs_the_same_whatever_is_stored(served: Served) -> None:
    """A year of readings every 30 s (a million) is drawn from at most 240 samples: the work
    is a few hundred index seeks, not a scan of what is stored."""
    now = time.time()
    store_readings(served.store, "kitchen", now - 60 * 86400, 200_000, 26)
    seeks: list[str] = []
    served.store.db.set_trace_callback(seeks.append)
    started = time.monotonic()
    status, _, svg = get(served.port, "/chart/kitchen.svg?range=30d")
    taken = time.monotonic() - started
    served.store.db.set_trace_callback(None)
    points = re.search(rb'points="([^"]+)"', svg).group(1).split()  # type: ignore[union-attr]
    print(f"\niot-receiver: a chart of 30 days of 200,000 readings took {taken * 1000:.0f} ms, "
          f"{len(seeks)} queries, {len(points)} points")
    assert status == 200 and 200 <= len(points) <= 240 and len(seeks) <= 245
    plan = served.store.db.execute(
        "EXPLAIN QUERY PLAN SELECT received, data FROM readings WHERE device=? AND "
        "received>=? AND received<? ORDER BY received LIMIT 1", ("kitchen", 0, 1)).fetchall()
    assert "readings_time" in str(plan)  # an index seek, not a scan


def test_a_reading_that_waited_in_the_gateway_keeps_its_time(served: Served) -> None:
    """The bridge says when it got a reading (?queued_at=): after an outage the readings are
    stored at that time, so the chart shows them when they were taken; implausible times (the
    future, months back, not a number) are ignored."""
    then = time.time() - 3600
    path = "/api/v1/readings/kitchen"
    status, _ = call(served.port, "POST", f"{path}?queued_at={then:.3f}", b'{"t": 1}', TOKEN)
    assert status == 201
    for bad in (f"{time.time() + 3600:.0f}", f"{time.time() - 90 * 86400:.0f}", "nan", "x"):
        assert call(served.port, "POST", f"{path}?queued_at={bad}", b'{"t": 2}', TOKEN)[0] == 201
    received = [r[1] for r in served.store.db.execute(
        "SELECT id, received FROM readings ORDER BY id")]
    assert abs(received[0] - then) < 0.01
    assert all(abs(r - time.time()) < 30 for r in received[1:])
