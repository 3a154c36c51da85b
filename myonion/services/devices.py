"""An IoT receiver's devices as its user needs them: each device id with its token (the
generated ones too), read from the running service itself."""

from __future__ import annotations

from myonion.errors import MyOnionError
from myonion.services import hostdirs
from myonion.services.context import ServiceContext, container_name
from myonion.services.store import ServiceRecord

#: the only template that has device tokens
RECEIVER = "iot-receiver"


def device_tokens(ctx: ServiceContext, record: ServiceRecord) -> dict[str, str]:
    """The receiver's device ids and tokens, printed by ``iot-receiver tokens`` inside its
    running container as the service's own user (so the tokens it generated are included)."""
    name = record.name
    if record.template != RECEIVER:
        raise MyOnionError(f"Service '{name}' is not an IoT receiver: it has no device tokens.")
    info = ctx.runtime.get(container_name(name))
    if info is None or not info.running:
        raise MyOnionError(f"Service '{name}' is not running, so its tokens cannot be read.",
                           hint=f"Start it with `myonion start {name}`.")
    user = hostdirs.service_user(ctx.registry.get(record.template), record.options)
    code, output = ctx.runtime.exec(container_name(name), ["iot-receiver", "tokens"], user=user)
    if code != 0:
        raise MyOnionError(f"The device tokens of '{name}' could not be read.",
                           detail=output.strip()[-500:] or None)
    pairs = (line.strip().partition(":") for line in output.splitlines() if ":" in line)
    return {device: token for device, _, token in pairs}
