"""Every onion service's tor caps the connections one circuit may hold open
(``HiddenServiceMaxStreams``, the circuit closed when it asks for more): the template's
``max_streams`` by default, the service's ``-o max_streams=N`` when given. Checked on the
rendered torrc, parsed as tor groups it: each ``HiddenService*`` line belongs to the
``HiddenServiceDir`` above it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from myonion.build import render
from myonion.errors import OptionError, TemplateError
from myonion.templates import (
    DEFAULT_MAX_STREAMS,
    MAX_STREAMS_MAX,
    TemplateRegistry,
    load_template,
)
from tests.templates.test_every_template import minimal

REGISTRY = TemplateRegistry()
#: the templates whose tor publishes an onion service of its own (the common torrc)
SERVICES = [t for t in REGISTRY.ids()
            if "torrc-common.j2" in (REGISTRY.get(t).path / "torrc.j2").read_text()]
SERVICE = {"name": "svc", "network": "tor", "mode": "persistent"}


def onion_services(torrc: str) -> dict[str, dict[str, list[str]]]:
    """HiddenServiceDir → its HiddenService* options (name → values), as tor reads them;
    a HiddenService* line before any HiddenServiceDir is an error to tor, and here."""
    services: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in torrc.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "HiddenServiceDir":
            current = services.setdefault(value.strip(), {})
        elif key.startswith("HiddenService"):
            assert current is not None, f"{key} before any HiddenServiceDir"
            current.setdefault(key, []).append(value.strip())
    return services


def limits(template_id: str, **given: object) -> dict[str, list[str]]:
    spec = REGISTRY.get(template_id)
    values = spec.validate({**minimal(spec), **given})
    services = onion_services(render.render_runtime_files(spec, SERVICE, values)["torrc"])
    assert list(services) == ["/var/lib/tor/hs"]
    block = services["/var/lib/tor/hs"]
    return {k: v for k, v in block.items() if k.startswith("HiddenServiceMaxStreams")}


def test_every_service_template_has_the_common_torrc() -> None:
    assert {"site", "ssh", "iot-receiver", "forward", "mqtt-bridge"} <= set(SERVICES)


@pytest.mark.parametrize("template_id", SERVICES)
def test_set_by_default_from_the_template(template_id: str) -> None:
    expected = REGISTRY.get(template_id).max_streams
    assert 1 <= expected <= MAX_STREAMS_MAX
    assert limits(template_id) == {"HiddenServiceMaxStreams": [str(expected)],
                                   "HiddenServiceMaxStreamsCloseCircuit": ["1"]}


def test_the_defaults_per_template() -> None:
    # ssh: a person's sessions, not a browser's parallel fetches (see docs/SECURITY.md)
    assert REGISTRY.get("ssh").max_streams == 10
    assert REGISTRY.get("site").max_streams == DEFAULT_MAX_STREAMS == 32
    assert REGISTRY.get("ssh").to_dict()["max_streams"] == 10


@pytest.mark.parametrize("template_id", SERVICES)
def test_an_option_changes_it(template_id: str) -> None:
    assert limits(template_id, max_streams="3")["HiddenServiceMaxStreams"] == ["3"]
    assert limits(template_id, max_streams=MAX_STREAMS_MAX)["HiddenServiceMaxStreams"] == [
        str(MAX_STREAMS_MAX)]
    # the option is in the values only when given: records and deployments stay as they were
    spec = REGISTRY.get(template_id)
    assert "max_streams" not in spec.validate(minimal(spec))


@pytest.mark.parametrize(("value", "message"), [
    ("0", "at least 1"), (str(MAX_STREAMS_MAX + 1), "at most"), ("-1", "at least 1"),
    ("ten", "whole number"), ("8\nHiddenServicePort 2222 127.0.0.1:2222", "whole number"),
])
def test_bad_values_are_refused(value: str, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        REGISTRY.get("ssh").validate({**minimal(REGISTRY.get("ssh")), "max_streams": value})


def test_an_onionbalance_frontend_refuses_it() -> None:
    """Its tor publishes no service of its own: the backends take the option."""
    spec = REGISTRY.get("onionbalance")
    with pytest.raises(OptionError, match="does not apply to an Onionbalance frontend"):
        spec.validate({**minimal(spec), "max_streams": "8"})


@pytest.mark.parametrize("bad", [0, MAX_STREAMS_MAX + 1, "many", True, 2.5])
def test_a_manifest_value_is_checked(tmp_path: Path, bad: object) -> None:
    source = REGISTRY.get("site").path
    folder = tmp_path / "site"
    folder.mkdir()
    for name in ("Dockerfile.j2", "torrc.j2", "nginx.conf.j2"):
        (folder / name).write_text((source / name).read_text())
    manifest = yaml.safe_load((source / "template.yaml").read_text())
    manifest["max_streams"] = 7
    (folder / "template.yaml").write_text(yaml.safe_dump(manifest))
    assert load_template(folder).max_streams == 7
    manifest["max_streams"] = bad
    (folder / "template.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(TemplateError, match="max_streams must be a whole number"):
        load_template(folder)


def test_templates_show_and_json_give_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    from myonion.cli import main

    assert main(["templates", "show", "ssh"]) == 0
    assert "max_streams is 10 unless given" in " ".join(capsys.readouterr().out.split())
    assert main(["templates", "--json"]) == 0
    shown = {t["id"]: t["max_streams"] for t in json.loads(capsys.readouterr().out)}
    assert shown["ssh"] == 10 and shown["site"] == DEFAULT_MAX_STREAMS
