"""``${…}`` references in a deployment file's option values: what another service of the file
has that this one needs.

- ``${NAME.address}`` — NAME's onion address (NAME must be persistent: it must not change);
- ``${NAME.token.ID}`` — the secret of device ID of NAME (given or generated, see
  :mod:`myonion.gateway_secrets`), e.g. the receiver's token of a device for the bridge;
- ``${NAME.tokens}`` — every device of NAME as ``ID:SECRET``, one a line;
- ``${NAME.devices}`` — every device id of NAME, one a line;
- ``${NAME.client.CLIENT}`` — the key line of client CLIENT of the private service NAME
  (``<address>:descriptor:x25519:<key>``), for a service that connects to NAME through tor (a
  gateway writing to a private receiver).

A service naming another comes up after it. While the file is checked, a reference stands in
for what it will be (:func:`stand_in`), so a value is validated as it will be given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from myonion import gateway_secrets
from myonion.errors import MyOnionError
from myonion.templates import TemplateRegistry

REFERENCE_RE = re.compile(r"\$\{([^}]*)\}")
FORM_RE = re.compile(r"([a-z0-9][a-z0-9-]{0,39})\.(address|tokens|devices|"
                     r"token\.([a-z0-9_-]{1,64})|client\.([a-z0-9][a-z0-9_-]{0,63}))")
#: stands in for an address named by ``${NAME.address}`` while the file is checked
PLACEHOLDER_ADDRESS = "a" * 55 + "d.onion"
#: stands in for a device's secret while the file is checked (valid for every secret option)
PLACEHOLDER_SECRET = "myonion-stand-in-for-a-generated-one"
#: stands in for a client's key line while the file is checked
PLACEHOLDER_CLIENT = f"{'a' * 55}d:descriptor:x25519:{'A' * 52}"
HELP = ("write ${NAME.address} for the address of service NAME, ${NAME.token.DEVICE} for the "
        "secret of one of its devices, ${NAME.tokens} or ${NAME.devices} for all of them, "
        "${NAME.client.CLIENT} for the key line of one of its clients")


@dataclass(frozen=True)
class Reference:
    """One ``${…}``: the service it names and what of it."""

    service: str
    kind: str  # address | token | tokens | devices | client
    device: str | None = None  # the device of a token, the client of a client

    @property
    def text(self) -> str:
        what = f"{self.kind}.{self.device}" if self.kind in ("token", "client") else self.kind
        return f"${{{self.service}.{what}}}"


def parse(text: str) -> tuple[list[Reference], list[str]]:
    """The references in ``text``, and the ``${…}`` in it that are none."""
    found: list[Reference] = []
    bad: list[str] = []
    for inner in REFERENCE_RE.findall(text):
        match = FORM_RE.fullmatch(inner)
        if match is None:
            bad.append(inner)
        elif match.group(3):
            found.append(Reference(match.group(1), "token", match.group(3)))
        elif match.group(4):
            found.append(Reference(match.group(1), "client", match.group(4)))
        else:
            found.append(Reference(match.group(1), match.group(2)))
    return found, bad


def fill(text: str, resolve: Callable[[Reference], str | None]) -> str:
    """``text`` with each reference replaced by ``resolve(reference)``; raises LookupError
    (with the reference) when one resolves to None."""

    def one(match: re.Match[str]) -> str:
        refs, _ = parse(match.group(0))
        if not refs:
            raise LookupError(match.group(0))
        value = resolve(refs[0])
        if value is None:
            raise LookupError(refs[0].text)
        return value

    return REFERENCE_RE.sub(one, text)


def from_secrets(ref: Reference, by_device: dict[str, str | None]) -> str | None:
    """What a token, tokens or devices reference is, given the named service's devices and
    their secrets (None: a device or secret is missing yet)."""
    if ref.kind == "devices":
        return "\n".join(by_device)
    if ref.kind == "token":
        return by_device.get(ref.device or "")
    if any(secret is None for secret in by_device.values()):
        return None
    return "\n".join(f"{device}:{secret}" for device, secret in by_device.items())


def stand_in(ref: Reference, devices: list[str]) -> str:
    """What a reference stands for while the file is checked; ``devices``: the ids the named
    service's file entry lists."""
    if ref.kind == "address":
        return PLACEHOLDER_ADDRESS
    if ref.kind == "client":
        return PLACEHOLDER_CLIENT
    return from_secrets(ref, dict.fromkeys(devices, PLACEHOLDER_SECRET)) or ""


def device_lists(raw_services: dict[Any, Any], registry: TemplateRegistry
                 ) -> dict[str, list[str]]:
    """Service → the device ids its generated-secret option lists in a deployment file (read
    as it is, before it is checked), references to other services' devices followed: what
    device references stand for while the file is checked."""
    texts: dict[str, str] = {}
    for name, raw in raw_services.items():
        try:
            template = registry.get(str(raw.get("template")))
        except (AttributeError, MyOnionError):
            continue
        options = raw.get("options") if isinstance(raw.get("options"), dict) else {}
        for option in gateway_secrets.generated_options(template):
            if isinstance(options.get(option.name), str):
                texts[str(name)] = options[option.name]
    found: dict[str, list[str]] = {}

    def devices(ref: Reference) -> str | None:
        return "\n".join(found[ref.service]) if ref.kind == "devices" and \
            ref.service in found else None

    for _ in range(len(texts) + 1):  # a service may list the devices of one listed before
        for name, text in texts.items():
            try:
                found[name] = list(gateway_secrets.parse_lines(fill(text, devices)))
            except LookupError:
                continue
    return found
