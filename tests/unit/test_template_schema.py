"""template.yaml's JSON Schema: valid, the validator generated from it current, and the errors of
a manifest naming its file, line and field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import pytest
import yaml

from myonion import paths
from myonion.templates import FORMATS, ManifestError, TemplateRegistry, load_template
from myonion.templates import _validator as generated
from myonion.templates.manifest import SCHEMA_FILE, VALIDATOR_FILE, schema, validator_source

BUILTIN = sorted(paths.builtin_templates_dir().glob("*/template.yaml"))


def test_the_schema_is_a_valid_draft_7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    assert json.loads(SCHEMA_FILE.read_text()) == schema()


def test_the_generated_validator_is_the_schema_s() -> None:
    written = VALIDATOR_FILE.read_text()
    if f'VERSION = "{fastjsonschema.VERSION}"' not in written:
        pytest.skip(f"fastjsonschema {fastjsonschema.VERSION} is not the version that "
                    "generated _validator.py (the corpus test below still compares them)")
    assert written == validator_source(), \
        "template.schema.json changed: run scripts/gen-template-validator.py"


@pytest.mark.parametrize("manifest", BUILTIN, ids=lambda p: p.parent.name)
def test_every_builtin_manifest_is_valid_by_the_reference_library(manifest: Path) -> None:
    jsonschema.validate(yaml.safe_load(manifest.read_text()), schema())
    assert load_template(manifest.parent).id == manifest.parent.name


def mutations(base: dict[str, Any]) -> list[dict[str, Any]]:
    """Manifests a little wrong (or right) in many places."""
    values: list[Any] = [None, True, 0, 80.0, 80.5, -1, 70000, "", "x", "80", "/tmp", "../x",
                         [], ["x"], [1, 2], {}, {"test": ["CMD", "true"]}, {"x": 1}]
    out = []
    for key in [*base, "extra", "layer", "service_user", "tor_client", "one_of", "publish"]:
        for value in values:
            out.append({**base, key: value})
    for i, option in enumerate(base.get("options") or []):
        for key in ("type", "required", "min", "choices", "format", "name", "bogus"):
            for value in values:
                options = list(base["options"])
                options[i] = {**option, key: value}
                out.append({**base, "options": options})
    for key in ("virtual", "target", "protocol", "when", "bogus"):
        for value in values:
            out.append({**base, "ports": [{**base["ports"][0], key: value}, *base["ports"][1:]]})
    return out


@pytest.mark.parametrize("manifest", BUILTIN, ids=lambda p: p.parent.name)
def test_the_generated_validator_agrees_with_the_reference_library(manifest: Path) -> None:
    reference = jsonschema.Draft7Validator(schema())
    checked = 0
    for data in mutations(yaml.safe_load(manifest.read_text())):
        try:
            generated.validate_urn_myonion_template_manifest_1(data)
            ours = True
        except fastjsonschema.JsonSchemaValueException:
            ours = False
        assert ours == reference.is_valid(data), json.dumps(data, default=str)[:300]
        checked += 1
    assert checked > 300


def test_the_schema_names_every_format() -> None:
    described = schema()["definitions"]["option"]["properties"]["format"]["description"]
    assert set(re.findall(r"[a-z_]{6,}", described)) >= set(FORMATS)


def make(tmp_path: Path, text: str, tid: str = "demo") -> Path:
    folder = tmp_path / tid
    folder.mkdir()
    (folder / "Dockerfile.j2").write_text("FROM {{ tor_image }}\n")
    (folder / "torrc.j2").write_text('{% include "torrc-common.j2" %}\n')
    (folder / "template.yaml").write_text(text)
    return folder


GOOD = """id: demo
title: Demo
description: a demo
options:
  - {name: port, type: int, default: 8080}
  - name: mode
    type: choice
    choices: [a, b]
ports:
  - {virtual: 80, target: 8080}
"""


@pytest.mark.parametrize(("change", "line", "field", "words"), [
    (("type: choice", "type: colour"), 7, "options[1].type",
     "options[1].type must be one of string, text, int, bool, choice, dir, file, not 'colour'"),
    (("description: a demo", "description: a demo\nprots: 1"), 4, "prots",
     "prots is not a field here (fields: balance_frontend, cap_add, description, "),
    (("ports:", "portz:"), 1, "ports", "'ports' is missing"),
    (("target: 8080}", "target: 80800}"), 10, "ports[0].target",
     "ports[0].target must be a port number (1-65535), not '80800'"),
    (("target: 8080}", "target: '80'}"), 10, "ports[0].target", "must be a port number"),
    (("    choices: [a, b]\n", ""), 6, "options[1].choices", "'options[1].choices' is missing"),
    (("title: Demo\n", ""), 1, "title", "'title' is missing"),
    (("default: 8080", "default: x"), 5, "options[0].default",
     "the default of option 'port' is not valid: Option 'port' must be a whole number"),
    (("choices: [a, b]", "choices: [a, b]\n    format: colour"), 9, "options[1].format",
     "option 'mode' has unknown format 'colour'"),
    (("id: demo", "id: other"), 1, "id", "id 'other' must be lower-case and equal the folder"),
    (("ports:\n  - {virtual: 80, target: 8080}", "ports: []"), 9, "ports",
     "ports must be a list of onion ports (at least one)"),
    (("description: a demo", "description: a demo\nhealthcheck: {interval: 2s}"), 4,
     "healthcheck", "healthcheck must be a mapping with a 'test' list"),
])
def test_errors_name_the_file_line_and_field(tmp_path: Path, change: tuple[str, str], line: int,
                                             field: str, words: str) -> None:
    assert change[0] in GOOD
    folder = make(tmp_path, GOOD.replace(*change))
    with pytest.raises(ManifestError) as caught:
        load_template(folder)
    error = caught.value
    assert (error.file, error.line, error.field) == (str(folder / "template.yaml"), line, field)
    where = f"line {line}: " if line else ""
    assert error.message.startswith(f"The template manifest {folder}/template.yaml is invalid: "
                                    f"{where}")
    assert words in error.message


def test_a_good_manifest_loads(tmp_path: Path) -> None:
    spec = load_template(make(tmp_path, GOOD))
    assert [o.name for o in spec.options] == ["port", "mode"]
    assert spec.option("mode") is not None and spec.option("mode").choices == ("a", "b")  # type: ignore[union-attr]
    assert TemplateRegistry([(tmp_path, False)]).get("demo").builtin is False
