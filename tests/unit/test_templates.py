from __future__ import annotations

from pathlib import Path

import pytest

from myonion.build import render
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

    manifest = ("id: demo\ntitle: D\ndescription: d\ntor_client: true\n"
                "ports: [{virtual: 1, target: 2}]\n")
    spec = load_template(make_template(tmp_path, manifest=manifest))
    assert spec.tor_client
    torrc = render.render_runtime_files(spec, {"name": "s", "network": "local",
                                               "mode": "ephemeral"}, {})["torrc"]
    assert "SocksPort 127.0.0.1:9050 IsolateDestAddr" in torrc and "SocksPort 0" not in torrc
    site = TemplateRegistry().get("site")
    assert not site.tor_client


RULES = """
id: rules
title: Rules
description: one_of, conditional onion ports and published ports
options:
  - {name: text, type: text}
  - {name: file, type: file}
  - {name: extra, type: bool, default: false}
  - {name: lan_port, type: int, min: 1, max: 65535}
  - {name: lan_address, type: string, default: 127.0.0.1, format: ip_address}
one_of:
  - [text, file]
ports:
  - {virtual: 80, target: 8080}
  - {virtual: 1883, target: 1883, protocol: tcp, when: extra}
publish:
  - {option: lan_port, target: 1883, address_option: lan_address}
"""


def test_one_of_needs_exactly_one(tmp_path: Path) -> None:
    spec = load_template(make_template(tmp_path, "rules", RULES))
    assert spec.one_of == (("text", "file"),)
    assert spec.validate({"text": "hi"})["file"] is None
    assert spec.validate({"file": str(tmp_path / "rules" / "torrc.j2"), "text": ""})["text"] \
        is None
    with pytest.raises(OptionError, match="needs one of the options 'text' or 'file'") as e:
        spec.validate({"text": ""})
    assert e.value.hint and "-o text=TEXT or -o file=PATH" in e.value.hint
    with pytest.raises(OptionError, match="'text' and 'file' of template 'rules' cannot be"):
        spec.validate({"text": "hi", "file": str(tmp_path / "rules" / "torrc.j2")})


def test_onion_ports_may_depend_on_a_bool_option(tmp_path: Path) -> None:
    spec = load_template(make_template(tmp_path, "rules", RULES))
    off, on = spec.validate({"text": "x"}), spec.validate({"text": "x", "extra": "yes"})
    assert [p.virtual for p in spec.onion_ports(off)] == [80]
    assert [p.virtual for p in spec.onion_ports(on)] == [80, 1883]
    service = {"name": "s", "network": "tor", "mode": "ephemeral"}
    assert "HiddenServicePort 1883" not in render.render_runtime_files(spec, service, off)["torrc"]
    assert "HiddenServicePort 1883 127.0.0.1:1883" in render.render_runtime_files(
        spec, service, on)["torrc"]
    assert spec.to_dict()["ports"][1] == {"virtual": 1883, "target": 1883, "when": "extra"}


def test_a_port_is_published_only_when_asked(tmp_path: Path) -> None:
    spec = load_template(make_template(tmp_path, "rules", RULES))
    assert spec.published(spec.validate({"text": "x"})) == {}
    assert spec.published(spec.validate({"text": "x", "lan_port": "1884"})) == {
        "1883/tcp": ("127.0.0.1", 1884)}
    assert spec.published(spec.validate({"text": "x", "lan_port": "1884",
                                         "lan_address": "0.0.0.0"})) == {
        "1883/tcp": ("0.0.0.0", 1884)}
    with pytest.raises(OptionError, match="'lan_address' only applies when 'lan_port' is given"):
        spec.validate({"text": "x", "lan_address": "0.0.0.0"})
    with pytest.raises(OptionError, match="'lan_address' must be an IP address, not 'my-pi'"):
        spec.validate({"text": "x", "lan_port": "1884", "lan_address": "my-pi"})
    with pytest.raises(OptionError, match="at most 65535"):
        spec.validate({"text": "x", "lan_port": "70000"})


@pytest.mark.parametrize(("change", "words"), [
    (("one_of:\n  - [text, file]", "one_of:\n  - [text, nope]"), "one_of names no option 'nope'"),
    (("one_of:\n  - [text, file]", "one_of:\n  - [text]"), "two options or more"),
    (("{name: text, type: text}", "{name: text, type: text, required: true}"),
     "cannot be required"),
    (("when: extra", "when: lan_port"), "no bool option"),
    (("{virtual: 80, target: 8080}", "{virtual: 80, target: 8080, when: extra}"),
     "first onion port cannot depend"),
    (("{option: lan_port,", "{option: extra,"), "'extra', which is no int option"),
    (("address_option: lan_address", "address_option: extra"), "no string option"),
    (("format: ip_address", "format: nonsense"), "unknown format 'nonsense'"),
])
def test_broken_rules_are_refused(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    assert change[0] in RULES
    with pytest.raises(TemplateError, match=words):
        load_template(make_template(tmp_path, "rules", RULES.replace(*change)))


def test_a_context_is_the_same_with_python_s_compiled_files_beside_it(tmp_path: Path) -> None:
    """pip compiles a template's .py files when it installs myonion (__pycache__/*.pyc): the
    context and its digest (the image's tag) must not change, or a Pi's myonion installed from
    a wheel looks for other tags than the laptop's checkout bundled."""
    import shutil

    spec = TemplateRegistry().get("iot-receiver")
    before = render.template_context(spec, "myonion/tor:x", "myonion/python:y")
    assert any(name.endswith(".py") for name in before.files)
    copy = tmp_path / spec.id
    shutil.copytree(spec.path, copy)
    for module in list(copy.rglob("*.py")):
        cache = module.parent / "__pycache__"
        cache.mkdir(exist_ok=True)
        (cache / f"{module.stem}.cpython-311.pyc").write_bytes(b"compiled")
    (copy / "files" / "stray.pyc").write_bytes(b"compiled")
    after = render.template_context(load_template(copy), "myonion/tor:x", "myonion/python:y")
    assert after.files == before.files and after.digest == before.digest
