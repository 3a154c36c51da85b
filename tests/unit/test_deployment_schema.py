"""The deployment file's JSON Schema: the one myonion checks with is the one it publishes for
editors, and the ready deployment files point editors at it and pass it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from myonion.deploy import schema

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "docs" / "myonion.schema.json"
READY = sorted((ROOT / "compose").glob("*/myonion.yaml"))


def test_the_published_schema_is_the_one_myonion_checks_with() -> None:
    assert json.loads(PUBLISHED.read_text()) == schema.schema()
    jsonschema.Draft202012Validator.check_schema(schema.schema())


@pytest.mark.parametrize("path", READY, ids=[p.parent.name for p in READY])
def test_ready_files_name_the_schema_and_pass_it(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../docs/myonion.schema.json"
    assert (path.parent / first.partition("$schema=")[2]).resolve() == PUBLISHED
    jsonschema.validate(yaml.safe_load(path.read_text()), schema.schema())


def test_refusals_are_in_myonions_words_at_their_field() -> None:
    data = {"version": 2, "services": {"Web": {"template": "site", "persistent": "maybe",
                                               "colour": 1}, "ok": {}}}
    assert sorted(schema.refusals(data, ["site"])) == [
        ("services.Web", "'Web' is not a valid service name: use 1-40 lower-case letters, "
         "digits and '-', starting with a letter or digit"),
        ("services.Web.colour", "is not a field here (fields: template, options, persistent, "
         "clients, ttl, network, limits, balance)"),
        ("services.Web.persistent", "must be true or false, not 'maybe'"),
        ("services.ok", "needs a template (one of: site)"),
        ("version", "must be 1, not '2'"),
    ]
