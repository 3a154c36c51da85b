"""The receiver's dashboard: every device's latest values and a chart of its readings over a
chosen time range, drawn on the server, with CSV/JSON exports of the range.

Made for Tor Browser at any security level: no script, no external font or file, styles inline
in the page (its CSP allows nothing else). The chart is an SVG image (``/chart/<device>.svg``);
at the Safest level Tor Browser draws no SVG at all, so every chart also comes as plain HTML
bars (in a ``<details>`` below it) that need nothing but CSS.

Work per view is bounded whatever is stored: a chart takes at most ``POINTS`` samples of the
range (all readings when there are few, else the first reading of each of ``POINTS`` equal time
slices, each one index seek: iot_store.Store.sample) and at most ``MAX_SERIES`` numeric keys.
"""

from __future__ import annotations

import calendar
import html
import json
import re
import time
from typing import Any
from urllib.parse import quote, urlencode

#: the ranges offered as links, in seconds
RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400,
          "1y": 365 * 86400}
DEFAULT_RANGE = "24h"
POINTS = 240
MAX_SERIES = 6
WIDTH, PANEL, PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 760, 112, 64, 16, 20, 24
BARS = 96
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")
WHEN_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")


class RangeError(ValueError):
    """A time range that cannot be read or is empty."""


def parse_time(text: str) -> float:
    """Unix seconds, or an ISO date/time in UTC ("2026-05-01", "2026-05-01T12:30")."""
    text = text.strip()
    if re.fullmatch(r"\d{1,12}(?:\.\d{1,6})?", text):
        return float(text)
    if not WHEN_RE.fullmatch(text):
        raise RangeError(f"'{text[:40]}' is no time: give Unix seconds or 2026-05-01T12:30 (UTC)")
    text = text.replace(" ", "T")
    fmt = {10: "%Y-%m-%d", 16: "%Y-%m-%dT%H:%M", 19: "%Y-%m-%dT%H:%M:%S"}[len(text)]
    try:
        return float(calendar.timegm(time.strptime(text, fmt)))
    except (ValueError, OverflowError):
        raise RangeError(f"'{text}' is no valid date") from None


def time_range(query: dict[str, list[str]], now: float) -> tuple[float, float, str]:
    """(from, to, the range's name or "custom") from ?range=24h or ?from=…&to=…."""
    if query.get("from") or query.get("to"):
        since = parse_time(query["from"][0]) if query.get("from") else now - 86400
        until = parse_time(query["to"][0]) if query.get("to") else now
        if until <= since:
            raise RangeError("the range ends before it starts")
        return since, until, "custom"
    name = query.get("range", [DEFAULT_RANGE])[0]
    if name not in RANGES:
        raise RangeError(f"range must be one of {', '.join(RANGES)}")
    return now - RANGES[name], now, name


def utc(ts: float, seconds: bool = False) -> str:
    return time.strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""), time.gmtime(ts))


def numbers(data: str) -> dict[str, float]:
    """The numeric values of a stored reading (booleans, text and nested values left out)."""
    try:
        value = json.loads(data, parse_constant=lambda _: None)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def series(rows: list[tuple[float, str]]) -> dict[str, list[tuple[float, float]]]:
    """Key → [(time, value)] for the first MAX_SERIES numeric keys that change over the range
    (a constant, such as a total, is in the latest values), in order of appearance."""
    found: dict[str, list[tuple[float, float]]] = {}
    for ts, data in rows:
        for key, value in numbers(data).items():
            found.setdefault(key, []).append((ts, value))
    changing = {k: v for k, v in found.items() if len(v) < 3 or len({x for _, x in v}) > 1}
    return dict(list((changing or found).items())[:MAX_SERIES])


def _scale(low: float, high: float) -> tuple[float, float]:
    if high - low < 1e-9:
        return low - 1, high + 1
    margin = (high - low) * 0.05
    return low - margin, high + margin


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10000 else f"{value:.4g}"


def svg_chart(device: str, rows: list[tuple[float, str]], since: float, until: float) -> bytes:
    """One panel per numeric key: a line over the range, its scale and the range's ends."""
    e = html.escape
    keyed = series(rows)
    height = max(1, len(keyed)) * PANEL
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
             f"<title>{e(device)}: {e(utc(since))} to {e(utc(until))} UTC</title>",
             f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>']
    if not keyed:
        parts.append(f'<text x="{WIDTH // 2}" y="{PANEL // 2}" text-anchor="middle" '
                     'fill="#666">no numeric readings in this range</text>')
    for i, (key, points) in enumerate(keyed.items()):
        top = i * PANEL + PAD_TOP
        plot_h = PANEL - PAD_TOP - PAD_BOTTOM
        low, high = _scale(min(v for _, v in points), max(v for _, v in points))

        def x(ts: float, span: float = max(until - since, 1e-9)) -> float:
            return PAD_LEFT + (ts - since) / span * plot_w

        def y(value: float, top: int = top, plot_h: int = plot_h, low: float = low,
              high: float = high) -> float:
            return top + plot_h - (value - low) / (high - low) * plot_h

        colour = COLOURS[i % len(COLOURS)]
        parts += [
            f'<text x="{PAD_LEFT}" y="{top - 6}" font-weight="bold" fill="{colour}">'
            f"{e(key)}</text>",
            f'<rect x="{PAD_LEFT}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
            'stroke="#ccc"/>',
            f'<line x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" y1="{top + plot_h / 2:.1f}" '
            f'y2="{top + plot_h / 2:.1f}" stroke="#e4e4e4"/>',
            f'<text x="{PAD_LEFT - 4}" y="{top + plot_h / 2 + 4:.0f}" text-anchor="end" '
            f'fill="#888">{_number((low + high) / 2)}</text>',
            f'<text x="{PAD_LEFT - 4}" y="{top + 10}" text-anchor="end">{_number(high)}</text>',
            f'<text x="{PAD_LEFT - 4}" y="{top + plot_h}" text-anchor="end">{_number(low)}</text>',
            f'<text x="{PAD_LEFT}" y="{top + plot_h + 14}">{e(utc(since))}</text>',
            f'<text x="{WIDTH - PAD_RIGHT}" y="{top + plot_h + 14}" text-anchor="end">'
            f"{e(utc(until))} UTC</text>"]
        coords = " ".join(f"{x(ts):.1f},{y(v):.1f}" for ts, v in points)
        if len(points) == 1:
            cx, cy = coords.split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        else:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" '
                         f'points="{coords}"/>')
    parts.append("</svg>\n")
    return "\n".join(parts).encode()


def html_bars(rows: list[tuple[float, str]], since: float, until: float) -> str:
    """The same chart as plain HTML bars (for browsers that draw no SVG): per key, BARS time
    slices, each bar as high as the slice's last value within the key's range."""
    e = html.escape
    out = []
    span = max(until - since, 1e-9)
    for key, points in series(rows).items():
        low, high = _scale(min(v for _, v in points), max(v for _, v in points))
        slots: list[float | None] = [None] * BARS
        for ts, value in points:
            slots[min(BARS - 1, max(0, int((ts - since) / span * BARS)))] = value
        bars = "".join(
            "<i></i>" if v is None else
            f'<i style="height:{max(1.0, (v - low) / (high - low) * 100):.0f}%" '
            f'title="{_number(v)}"></i>' for v in slots)
        out.append(f"<p><strong>{e(key)}</strong> {_number(low)} … {_number(high)}</p>"
                   f'<div class="bars">{bars}</div>')
    return "".join(out) or "<p>no numeric readings in this range</p>"


def latest_values(latest: tuple[int, float, str] | None) -> str:
    e = html.escape
    if latest is None:
        return "<p>no readings yet</p>"
    _, ts, data = latest
    try:
        value = json.loads(data, parse_constant=lambda _: None)
    except ValueError:
        value = {}
    cells = "".join(
        f"<tr><th>{e(str(k))}</th><td>{e(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
        for k, v in (value.items() if isinstance(value, dict) else [("value", value)]))
    return f'<p>latest: {e(utc(ts, True))} UTC</p><table class="latest">{cells}</table>'


STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:60em;color:#222}
h2{margin-top:1.6em;border-bottom:1px solid #ccc}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;font-weight:normal}
th{background:#f4f4f4}img{max-width:100%;height:auto;border:1px solid #eee}
.bars{display:flex;align-items:flex-end;height:6em;border:1px solid #ccc;background:#fafafa}
.bars i{flex:1;background:#1f77b4;margin-right:1px;min-width:1px}
nav a,nav strong{margin-right:.8em}form{margin:.6em 0}.note{color:#666;font-size:.9em}"""


def page(title: str, devices: list[str], store: Any, query: dict[str, list[str]],
         now: float) -> bytes:
    """The whole dashboard for ``devices`` (all, or the one asked for) over the chosen range."""
    e = html.escape
    since, until, name = time_range(query, now)
    chosen = query.get("device", [""])[0]
    shown = [d for d in devices if not chosen or d == chosen]
    span = {"from": f"{since:.0f}", "to": f"{until:.0f}"}
    links = " ".join(f"<strong>{r}</strong>" if r == name else
                     f'<a href="/?{e(urlencode({"range": r, **_device(query)}))}">{r}</a>'
                     for r in RANGES)
    options = "".join(f'<option value="{e(d)}"{" selected" if d == chosen else ""}>{e(d)}'
                      "</option>" for d in devices)
    sections = []
    for device in shown:
        rows = store.sample(device, since, until, POINTS)
        url = f"/chart/{quote(device)}.svg?{urlencode(span)}"
        export = f"/api/v1/readings/{quote(device)}?{urlencode({**span, 'limit': 10000})}"
        sections.append(
            f"<h2>{e(device)}</h2>{latest_values(store.latest(device))}"
            f'<p><img src="{e(url)}" width="{WIDTH}" alt="The chart of {e(device)} is an SVG '
            "image; Tor Browser's Safest level does not draw SVG: open the chart without SVG "
            'below."></p><details><summary>Chart without SVG</summary>'
            f"{html_bars(rows, since, until)}</details>"
            f'<p>{len(rows)} reading(s) drawn · export the range: <a href="{e(export)}'
            f'&amp;format=csv">CSV</a> · <a href="{e(export)}">JSON</a> (at most 10,000)</p>')
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head><body><h1>{e(title)}</h1>
<nav>{links}</nav>
<form method="get" action="/">from <input name="from" type="datetime-local"
value="{e(utc(since).replace(' ', 'T'))}"> to <input name="to" type="datetime-local"
value="{e(utc(until).replace(' ', 'T'))}"> (UTC) <select name="device"><option value="">every
device</option>{options}</select> <button>show</button></form>
<p class="note">{e(utc(since))} to {e(utc(until))} UTC. No scripts: this page works with
JavaScript off.</p>
{''.join(sections) or '<p>no devices</p>'}
<p class="note">API: <code>/api/v1/readings/&lt;device&gt;?from=…&amp;to=…&amp;format=csv</code></p>
</body></html>
"""
    return body.encode()


def _device(query: dict[str, list[str]]) -> dict[str, str]:
    device = query.get("device", [""])[0]
    return {"device": device} if device else {}
