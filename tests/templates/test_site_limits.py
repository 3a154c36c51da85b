"""The site template's nginx against slow and hostile visitors (issue 16): room for hundreds of
half-sent requests and stalled downloads beside the other visitors, every wait bounded to
seconds, and folder redirects that name only the path (no internal port, no forged Host)."""

from __future__ import annotations

import re

from myonion.build import render
from myonion.templates import TemplateRegistry

SPEC = TemplateRegistry().get("site")
SERVICE = {"name": "svc", "network": "tor", "mode": "persistent"}


def directives() -> dict[str, str]:
    """nginx's simple directives of the rendered nginx.conf (name → value; nested blocks and
    their names flattened, each name at most once)."""
    text = render.render_runtime_files(SPEC, SERVICE, SPEC.validate({}))["nginx.conf"]
    found: dict[str, str] = {}
    for statement in re.split(r"[;{}]", re.sub(r"#[^\n]*", "", text)):
        words = statement.split()
        if len(words) >= 2:
            assert words[0] not in found or words[0] in ("add_header", "location"), words[0]
            found[words[0]] = " ".join(words[1:])
    return found


def seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)(s?)", value)
    assert match, value
    return int(match.group(1))


def test_room_for_hundreds_of_slow_visitors() -> None:
    d = directives()
    # issue 16's 300 half-sent requests and 280 stalled downloads, one worker
    assert d["worker_processes"] == "1" and int(d["worker_connections"]) >= 2 * 300
    assert int(d["worker_rlimit_nofile"]) >= 2 * int(d["worker_connections"])


def test_every_wait_is_seconds() -> None:
    d = directives()
    for name in ("client_header_timeout", "client_body_timeout", "keepalive_timeout"):
        assert seconds(d[name]) <= 15, name
    assert seconds(d["send_timeout"]) <= 30


def test_redirects_name_only_the_path() -> None:
    assert directives()["absolute_redirect"] == "off"
