"""Secrets myonion makes for the gateway templates, so that no example ever carries one.

An option marked ``generate: line_secrets`` in its template's manifest (the iot-receiver's
``devices``, the mqtt-bridge's ``devices``) holds one device a line, ``id:secret`` or just
``id``. A device given by its id alone gets a secret here, when the service is shared or
re-configured: 32 random URL-safe characters (192 bits). It is kept with the service's other
options in its record (``service.json``, 0600 in the service's 0700 directory): the next
re-configuration keeps it as long as the device stays in the list, and removing the device
revokes it. ``myonion secrets NAME`` shows them; a deployment file passes them on to another
service with ``${NAME.token.ID}``, ``${NAME.tokens}`` and ``${NAME.devices}``
(:mod:`myonion.deploy.references`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myonion.errors import MyOnionError
from myonion.runtime.base import Mount, Runtime
from myonion.templates import OptionSpec, TemplateSpec

#: one device line: an id, and after a colon its secret when given
LINE_RE = re.compile(r"[ \t]*([a-z0-9_-]{1,64})(?::(\S+))?[ \t]*")
#: the length of a generated secret in bytes (32 characters once URL-safe base64 encoded)
SECRET_BYTES = 24


def generate_secret() -> str:
    """A fresh device secret: 32 characters of A-Z a-z 0-9 - _ (fit for every secret option)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def parse_lines(text: str | None) -> dict[str, str | None]:
    """``id[:secret]`` lines → {id: secret or None}, in order; comments and blank lines skipped
    (the value was validated by its option's pattern before)."""
    found: dict[str, str | None] = {}
    for raw in (text or "").replace("\r", "").split("\n"):
        if not raw.strip() or raw.strip().startswith("#"):
            continue
        match = LINE_RE.fullmatch(raw)
        if match is not None:
            found[match.group(1)] = match.group(2)
    return found


def generated_options(template: TemplateSpec) -> list[OptionSpec]:
    """The template's options whose missing secrets myonion makes."""
    return [o for o in template.options if o.generate == "line_secrets"]


def _complete_text(text: str, previous: dict[str, str | None], generate: bool) -> str:
    lines = []
    for raw in text.replace("\r", "").split("\n"):
        match = LINE_RE.fullmatch(raw)
        if match is None or match.group(2) is not None:
            lines.append(raw)
            continue
        device = match.group(1)
        secret = previous.get(device) or (generate_secret() if generate else None)
        lines.append(f"{device}:{secret}" if secret else device)
    return "\n".join(lines)


def complete(template: TemplateSpec, values: dict[str, Any],
             previous: dict[str, Any] | None = None, generate: bool = True) -> dict[str, Any]:
    """``values`` (validated) with a secret for every device given by its id alone: the one it
    had in ``previous`` (the options the service had), else a new one (unless ``generate`` is
    False: then it stays without, as when only comparing)."""
    result = dict(values)
    for option in generated_options(template):
        text = values.get(option.name)
        if isinstance(text, str) and text:
            old = parse_lines((previous or {}).get(option.name))
            result[option.name] = _complete_text(text, old, generate)
    return result


@dataclass(frozen=True)
class DeviceSecret:
    """One device's secret as ``myonion secrets`` shows it."""

    option: str
    device: str
    secret: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"option": self.option, "device": self.device, "secret": self.secret}


def device_secrets(template: TemplateSpec, values: dict[str, Any]) -> list[DeviceSecret]:
    """Every device of the service's generated-secret options, with its secret."""
    return [DeviceSecret(option.name, device, secret)
            for option in generated_options(template)
            for device, secret in parse_lines(values.get(option.name)).items()]


def secrets_by_device(template: TemplateSpec, values: dict[str, Any]) -> dict[str, str | None]:
    """{device: secret} of the first generated-secret option (what references name)."""
    options = generated_options(template)
    return parse_lines(values.get(options[0].name)) if options else {}


def secrets_after(template: TemplateSpec, options: dict[str, Any],
                  previous: dict[str, Any]) -> dict[str, str | None]:
    """The device secrets a service that has ``previous`` options will have once given
    ``options`` (None for a device whose secret is not made yet; {} if they are invalid)."""
    try:
        values = template.validate(options)
    except MyOnionError:
        return {}
    return secrets_by_device(template, complete(template, values, previous, generate=False))


#: the option of a template whose tor connects to private services (client key lines)
ONION_AUTH_OPTION = "receiver_auth"
ONION_AUTH_DIR = "onion_auth"
AUTH_LINE_RE = re.compile(r"[ \t]*([a-z2-7]{56}):descriptor:x25519:([A-Z2-7]{52})[ \t]*")


def onion_auth_files(template: TemplateSpec, values: dict[str, Any]) -> dict[str, bytes]:
    """The ``ClientOnionAuthDir`` files a service's tor needs to reach the private services
    its ``receiver_auth`` names: ``<address>.auth_private`` → its key line."""
    option = template.option(ONION_AUTH_OPTION)
    text = values.get(ONION_AUTH_OPTION) if option is not None else None
    files = {}
    for raw in str(text or "").replace("\r", "").split("\n"):
        match = AUTH_LINE_RE.fullmatch(raw)
        if match is not None:
            files[f"{match.group(1)}.auth_private"] = (raw.strip() + "\n").encode()
    return files


def install_onion_auth(runtime: Runtime, image: str, conf: Path, files: dict[str, bytes],
                       tor_user: str) -> None:
    """Put the key files into ``conf/onion_auth`` (mounted at /etc/myonion/onion_auth) as tor's
    user, 0600 in a 0700 directory as tor insists, through a one-off task (so a host user that
    is not root can replace them later too); files no longer wanted are removed."""
    keep = "|".join(files) or "none"
    script = (f'cd /conf/{ONION_AUTH_DIR} && for f in *.auth_private; do case "$f" in '
              f'{keep}) ;; *) rm -f -- "$f" ;; esac; done')
    put = {f"/conf/{ONION_AUTH_DIR}/": (b"", 0o700),
           **{f"/conf/{ONION_AUTH_DIR}/{name}": (data, 0o600) for name, data in files.items()}}
    code, output = runtime.run_task(image, ["sh", "-c", script], [Mount(str(conf), "/conf")],
                                    files=put, user=tor_user)
    if code != 0:
        raise MyOnionError("The client keys for tor could not be put in place.",
                           detail=output.strip()[-500:] or None)
