"""The onion-service DoS defences tor offers, as options of every template (-o pow_defense=true,
-o intro_dos_rate=N, -o intro_dos_burst=M): validated, and rendered into the torrc only when
given."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from myonion.build import render
from myonion.errors import OptionError, TemplateError
from myonion.templates import COMMON_OPTIONS, INTRO_DOS_MAX, TemplateRegistry, load_template
from tests.templates.test_every_template import minimal

REGISTRY = TemplateRegistry()
#: the templates whose torrc is the common one (an onion service of their own)
SERVICES = [t for t in REGISTRY.ids()
            if "torrc-common.j2" in (REGISTRY.get(t).path / "torrc.j2").read_text()]
SERVICE = {"name": "svc", "network": "tor", "mode": "persistent"}
DOS_LINES = ("HiddenServicePoWDefensesEnabled", "HiddenServiceEnableIntroDoS")


def torrc(template_id: str, **given: object) -> list[str]:
    spec = REGISTRY.get(template_id)
    values = spec.validate({**minimal(spec), **given})
    text = render.render_runtime_files(spec, SERVICE, values)["torrc"]
    return [line for line in text.splitlines() if line.startswith(DOS_LINES)]


def test_the_built_in_templates_have_them() -> None:
    assert {"site", "ssh", "iot-receiver", "forward", "mqtt-bridge"} <= set(SERVICES)


@pytest.mark.parametrize("template_id", REGISTRY.ids())
def test_off_unless_asked(template_id: str) -> None:
    assert torrc(template_id) == []
    assert torrc(template_id, pow_defense="false") == []
    # not filled in when not given: records and deployments stay as they were
    spec = REGISTRY.get(template_id)
    assert not {c.name for c in COMMON_OPTIONS} & set(spec.validate(minimal(spec)))


@pytest.mark.parametrize("template_id", SERVICES)
def test_rendered_when_given(template_id: str) -> None:
    assert torrc(template_id, pow_defense="true", intro_dos_rate="25",
                 intro_dos_burst="200") == [
        "HiddenServicePoWDefensesEnabled 1",
        "HiddenServiceEnableIntroDoSDefense 1",
        "HiddenServiceEnableIntroDoSRatePerSec 25",
        "HiddenServiceEnableIntroDoSBurstPerSec 200",
    ]
    # the burst defaults to 8 times the rate
    assert torrc(template_id, intro_dos_rate=10)[-1] == "HiddenServiceEnableIntroDoSBurstPerSec 80"


@pytest.mark.parametrize(("given", "message"), [
    ({"intro_dos_burst": "50"}, "needs it"),
    ({"intro_dos_rate": "50", "intro_dos_burst": "10"}, "at least"),
    ({"intro_dos_rate": "0"}, "at least 1"),
    ({"intro_dos_rate": str(INTRO_DOS_MAX + 1)}, "at most"),
    ({"intro_dos_rate": "25\nHiddenServicePort 22 127.0.0.1:22"}, "whole number"),
    ({"pow_defense": "maybe"}, "true or false"),
])
def test_bad_values_are_refused(given: dict[str, str], message: str) -> None:
    spec = REGISTRY.get("site")
    with pytest.raises(OptionError, match=message):
        spec.validate(given)


def test_a_manifest_cannot_take_their_names(tmp_path: Path) -> None:
    source = REGISTRY.get("site").path
    folder = tmp_path / "site"
    folder.mkdir()
    for name in ("Dockerfile.j2", "torrc.j2", "nginx.conf.j2"):
        (folder / name).write_text((source / name).read_text())
    manifest = yaml.safe_load((source / "template.yaml").read_text())
    manifest["options"].append({"name": "pow_defense", "type": "bool"})
    (folder / "template.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(TemplateError, match="every template has"):
        load_template(folder)
