"""Every whole-number option of every template (and the options every template has) at its
bounds, as its template.yaml declares them: min-1 and max+1 are refused naming the bound, min
and max are accepted and rendered as given. The cases come from the manifests, so a new
option, or a bound changed in a manifest but not in the code, is covered without a new test."""

from __future__ import annotations

from typing import Any

import pytest

from myonion.build import render
from myonion.errors import OptionError
from myonion.templates import COMMON_OPTIONS, OptionSpec, TemplateRegistry, TemplateSpec
from tests.templates.test_every_template import minimal

REGISTRY = TemplateRegistry()


def int_options() -> list[tuple[str, OptionSpec]]:
    found = []
    for spec in REGISTRY.all():
        own = [o for o in spec.options if o.type == "int"]
        # an Onionbalance frontend refuses the DoS options (they belong on its backends)
        common = [] if spec.balance_frontend else [o for o in COMMON_OPTIONS if o.type == "int"]
        found += [(spec.id, o) for o in (*own, *common)]
    return found


CASES = int_options()


def test_there_are_int_options_and_every_one_is_bounded() -> None:
    assert {t for t, _ in CASES} >= {"forward", "iot-receiver", "mqtt-bridge"}
    unbounded = [(t, o.name) for t, o in CASES if o.min is None or o.max is None]
    assert unbounded == [], "every whole-number option needs a min and a max"


#: an option that is only valid together with another: the other at its smallest
NEEDS = {"intro_dos_burst": {"intro_dos_rate": 1}}


def given(spec: TemplateSpec, name: str, value: Any) -> dict[str, Any]:
    return {**minimal(spec), **NEEDS.get(name, {}), name: value}


@pytest.mark.parametrize(("template_id", "option"), CASES,
                         ids=[f"{t}-{o.name}" for t, o in CASES])
@pytest.mark.parametrize("as_text", [False, True], ids=["yaml", "cli"])
def test_bounds(template_id: str, option: OptionSpec, as_text: bool) -> None:
    spec = REGISTRY.get(template_id)
    assert option.min is not None and option.max is not None

    def value(n: int) -> int | str:
        return str(n) if as_text else n

    for n in (option.min, option.max):
        values = spec.validate(given(spec, option.name, value(n)))
        assert values[option.name] == n and not isinstance(values[option.name], bool)
        files = render.render_runtime_files(
            spec, {"name": "bounds", "network": "local", "mode": "ephemeral"}, values)
        assert files["torrc"]
    with pytest.raises(OptionError, match=f"'{option.name}' must be at least {option.min}, "
                       f"not {option.min - 1}"):
        spec.validate(given(spec, option.name, value(option.min - 1)))
    with pytest.raises(OptionError, match=f"'{option.name}' must be at most {option.max}, "
                       f"not {option.max + 1}"):
        spec.validate(given(spec, option.name, value(option.max + 1)))
