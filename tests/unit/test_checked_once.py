"""An unchanged ``myonion up`` reads each template once and checks each service once, and so
does an ``up`` that re-makes a changed service (before the request was checked once and
trusted after: 4 parses and 3 validations per template; 7 and 4 for the changed one).

Counted on the fake runtime by wrapping the one function that parses a ``template.yaml``
(``load_template``, as the registry calls it) and the one that checks a service's options
(``TemplateSpec.validate``).
Each ``up`` gets a manager of its own, as each ``myonion up`` command does.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from myonion import deploy
from myonion.manager import Manager
from myonion.templates import TemplateSpec, registry
from tests.fakes import FakeTestnet

DEVICES = "kitchen:kitchen-token-0123456789"


@pytest.fixture
def deployment_file(tmp_path: Path) -> Path:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello")
    path = tmp_path / "myonion.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: counted
        services:
          cntsite:
            template: site
            options:
              dir: ./site
              listing: false
          cntrecv:
            template: iot-receiver
            options:
              devices: "{DEVICES}"
            persistent: true
            clients: [alice]
        """))
    return path


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> tuple[Counter[str], Counter[str]]:
    """(parses by template, validations by template), counted from now on."""
    parses: Counter[str] = Counter()
    validations: Counter[str] = Counter()
    load_template = registry.load_template
    validate = TemplateSpec.validate

    def counted_load(folder: Path, builtin: bool = True) -> TemplateSpec:
        parses[folder.name] += 1
        return load_template(folder, builtin)

    def counted_validate(self: TemplateSpec, given: dict[str, Any]) -> dict[str, Any]:
        validations[self.id] += 1
        return validate(self, given)

    monkeypatch.setattr(registry, "load_template", counted_load)
    monkeypatch.setattr(TemplateSpec, "validate", counted_validate)
    return parses, validations


def _up(manager: Manager, path: Path) -> list[str]:
    """``myonion up -f path`` (without waiting for tor: there is none on the fake runtime)."""
    fresh = Manager(runtime=manager.runtime, store=manager.store, testnet=manager.testnet)
    return [s.action for s in deploy.up(fresh, deploy.load(path, fresh.registry), wait=False)]


def test_an_unchanged_up_parses_and_validates_each_template_once(
        manager: Manager, deployment_file: Path,
        counts: tuple[Counter[str], Counter[str]]) -> None:
    parses, validations = counts
    _up(manager, deployment_file)
    parses.clear()
    validations.clear()
    assert _up(manager, deployment_file) == ["unchanged", "unchanged"]
    assert parses == {"site": 1, "iot-receiver": 1}
    assert validations == {"site": 1, "iot-receiver": 1}


def test_a_changed_service_is_parsed_and_validated_once(
        manager: Manager, deployment_file: Path,
        counts: tuple[Counter[str], Counter[str]]) -> None:
    parses, validations = counts
    _up(manager, deployment_file)
    deployment_file.write_text(deployment_file.read_text().replace("listing: false",
                                                                   "listing: true"))
    parses.clear()
    validations.clear()
    assert _up(manager, deployment_file) == ["recreate", "unchanged"]
    assert parses == {"site": 1, "iot-receiver": 1}
    assert validations == {"site": 1, "iot-receiver": 1}


def test_the_template_cache_reads_a_changed_or_overridden_template_again(
        tmp_path: Path, counts: tuple[Counter[str], Counter[str]]) -> None:
    """A long-lived manager (the app's) parses a template once, and again when its
    template.yaml changed or a user template of the same id appeared."""
    import os
    import shutil

    from myonion import paths
    from myonion.services.context import TemplateCache

    parses, _ = counts
    builtin, user = tmp_path / "builtin", tmp_path / "user"
    shutil.copytree(paths.builtin_templates_dir() / "site", builtin / "site")
    user.mkdir()
    cache = TemplateCache([(builtin, True), (user, False)])
    first = cache.get("site")
    assert cache.get("site") is first and parses == {"site": 1}
    manifest = builtin / "site" / "template.yaml"
    manifest.write_text(manifest.read_text().replace("title:", "title: Changed", 1))
    os.utime(manifest, ns=(1, 1))
    changed = cache.get("site")
    assert changed is not first and changed.title.startswith("Changed") and parses["site"] == 2
    shutil.copytree(builtin / "site", user / "site")
    assert not cache.get("site").builtin and parses["site"] == 3


def test_the_fake_test_network_is_one_the_services_can_use(testnet: FakeTestnet) -> None:
    """What the services need of the test network (``TestnetPort``), the fake has."""
    from myonion.services.context import TestnetPort

    assert isinstance(testnet, TestnetPort)
