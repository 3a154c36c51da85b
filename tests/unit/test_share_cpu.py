"""What a share spends in Python, per service (20 shares at once share 2 cores with the
engine): each template file compiled once per process, and no proxy lookup per engine call
to an engine on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import docker
import pytest

from myonion.build import render
from myonion.runtime.docker.engine import local_session


def test_a_template_file_is_compiled_once_and_again_when_it_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    compiled: list[str] = []
    compile_ = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, name: str | None = None,
                 *args: object, **kwargs: object) -> object:
        compiled.append(str(name))
        return compile_(self, source, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    page = tmp_path / "page.j2"
    page.write_text("hello {{ who }}\n")
    assert render._render(tmp_path, "page.j2", {"who": "a"}) == "hello a\n"
    assert render._render(tmp_path, "page.j2", {"who": "b"}) == "hello b\n"
    assert compiled == ["page.j2"]
    # a user edits the template: the next share renders the new text
    page.write_text("bye {{ who }}\n")
    os.utime(page, (page.stat().st_atime + 5, page.stat().st_mtime + 5))
    assert render._render(tmp_path, "page.j2", {"who": "c"}) == "bye c\n"
    assert compiled == ["page.j2", "page.j2"]


@pytest.mark.parametrize(("base_url", "looks_for_proxies"), [
    ("unix:///var/run/docker.sock", False),
    ("tcp://192.0.2.10:2376", True),  # an engine elsewhere may sit behind a proxy
])
def test_an_engine_on_this_machine_is_called_without_a_proxy_lookup(
        base_url: str, looks_for_proxies: bool) -> None:
    client = docker.DockerClient(base_url=base_url, version="1.41")  # connects to nothing
    assert local_session(client) is client
    assert client.api.trust_env is looks_for_proxies
