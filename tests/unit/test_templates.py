from __future__ import annotations

from pathlib import Path

import pytest

from myonion.errors import OptionError, TemplateError
from myonion.templates import TemplateRegistry, load_template, parse_option_args


def make_template(root: Path, tid: str = "demo", manifest: str | None = None) -> Path:
    folder = root / tid
    folder.mkdir(parents=True)
    (folder / "Dockerfile.j2").write_text("FROM {{ tor_image }}\n")
    (folder / "torrc.j2").write_text('{% include "torrc-common.j2" %}\n')
    (folder / "template.yaml").write_text(manifest or f"""
id: {tid}
title: Demo
description: a demo
options:
  - {{name: port, type: int, min: 1, max: 65535, default: 8080}}
  - {{name: mode, type: choice, choices: [a, b], required: true}}
  - {{name: label, type: string, pattern: "[a-z]+"}}
ports:
  - {{virtual: 80, target: 8080}}
""")
    return folder


def test_user_template_dir_is_searched(tmp_path: Path) -> None:
    make_template(tmp_path / "user")
    registry = TemplateRegistry([(tmp_path / "none", True), (tmp_path / "user", False)])
    assert registry.ids() == ["demo"]
    assert registry.get("demo").builtin is False


def test_options_are_coerced_and_defaults_filled(tmp_path: Path) -> None:
    spec = load_template(make_template(tmp_path))
    values = spec.validate({"mode": "b", "port": "99"})
    assert values == {"port": 99, "mode": "b", "label": None}


@pytest.mark.parametrize(("given", "words"), [
    ({}, "needs option 'mode'"),
    ({"mode": "c"}, "must be one of a, b"),
    ({"mode": "a", "port": "x"}, "whole number"),
    ({"mode": "a", "port": "0"}, "at least 1"),
    ({"mode": "a", "port": "70000"}, "at most 65535"),
    ({"mode": "a", "label": "a\nb"}, "single line"),
    ({"mode": "a", "label": "A B"}, "invalid value"),
    ({"mode": "a", "nope": "1"}, "has no option 'nope'"),
])
def test_bad_options_are_refused(tmp_path: Path, given: dict[str, str], words: str) -> None:
    spec = load_template(make_template(tmp_path))
    with pytest.raises(OptionError, match=words):
        spec.validate(given)


def test_path_options_must_exist(tmp_path: Path) -> None:
    spec = TemplateRegistry().get("site")
    with pytest.raises(OptionError, match="does not exist"):
        spec.validate({"dir": str(tmp_path / "missing")})
    (tmp_path / "f").write_text("x")
    with pytest.raises(OptionError, match="not a folder"):
        spec.validate({"dir": str(tmp_path / "f")})
    assert spec.validate({"dir": str(tmp_path)})["dir"] == str(tmp_path.resolve())


@pytest.mark.parametrize("manifest", [
    "just text",
    "id: demo\ntitle: t\ndescription: d\nports: []\n",
    "id: other\ntitle: t\ndescription: d\nports: [{virtual: 80, target: 1}]\n",
    "id: demo\ntitle: t\nports: [{virtual: 80, target: 1}]\n",
    "id: demo\ntitle: t\ndescription: d\nports: [{virtual: 80}]\n",
    "id: demo\ntitle: t\ndescription: d\nports: [{virtual: 80, target: 1}]\n"
    "options: [{name: x, type: colour}]\n",
])
def test_broken_manifests_are_refused(tmp_path: Path, manifest: str) -> None:
    with pytest.raises(TemplateError, match="invalid"):
        load_template(make_template(tmp_path, manifest=manifest))


def test_unknown_template() -> None:
    with pytest.raises(TemplateError, match="no template 'nope'"):
        TemplateRegistry().get("nope")


def test_option_args() -> None:
    assert parse_option_args(["dir=./a=b", "x="]) == {"dir": "./a=b", "x": ""}
    with pytest.raises(OptionError, match="KEY=VALUE"):
        parse_option_args(["dir"])


def test_option_example_is_read(tmp_path: Path) -> None:
    manifest = """
id: demo
title: Demo
description: a demo
options:
  - {name: key, type: text, required: true, example: "abc", pattern: "[a-c]+"}
  - {name: other, type: string}
ports:
  - {virtual: 80, target: 8080}
"""
    spec = load_template(make_template(tmp_path, manifest=manifest))
    key = spec.option("key")
    assert key is not None and key.example == "abc"
    other = spec.option("other")
    assert other is not None and other.example is None
    # the example is documentation, never a default
    with pytest.raises(OptionError, match="needs option 'key'"):
        spec.validate({})


def test_tor_client_gets_a_loopback_socks_port(tmp_path: Path) -> None:
    from myonion import render

    manifest = ("id: demo\ntitle: D\ndescription: d\ntor_client: true\n"
                "ports: [{virtual: 1, target: 2}]\n")
    spec = load_template(make_template(tmp_path, manifest=manifest))
    assert spec.tor_client
    torrc = render.render_runtime_files(spec, {"name": "s", "network": "local",
                                               "mode": "ephemeral"}, {})["torrc"]
    assert "SocksPort 127.0.0.1:9050 IsolateDestAddr" in torrc and "SocksPort 0" not in torrc
    site = TemplateRegistry().get("site")
    assert not site.tor_client
