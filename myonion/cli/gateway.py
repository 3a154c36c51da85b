"""The gateway's commands: ``myonion secrets``, ``myonion deliveries``, ``myonion health``, and
the warning ``share`` gives for a receiver anyone can read. They use the manager's public API
and the gateway modules only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from myonion import gateway_health, gateway_secrets, gateway_tls
from myonion.cli import common
from myonion.cli.common import err, json_out, out
from myonion.errors import MyOnionError, ServiceNotFound
from myonion.runtime.base import Mount

if TYPE_CHECKING:
    from myonion.manager import Manager, ServiceView
    from myonion.services.store import ServiceRecord

#: templates whose onion serves personal data to whoever has the address (unless private)
PERSONAL_DATA = {"iot-receiver": "its readings"}
BRIDGE_PROGRAM = "/usr/local/lib/myonion/mqtt_bridge.py"
QUEUE_DIR = "/var/lib/myonion-mqtt"


def public_warnings(view: ServiceView) -> list[str]:
    """What to tell the user who shares ``view`` publicly (none for a private service)."""
    what = PERSONAL_DATA.get(view.template)
    if what is None or view.private:
        return []
    return [f"Anyone who has the address of '{view.name}' can read {what}: they are personal "
            f"data. Make it private with `myonion clients add {view.name} NAME` (only clients "
            "with a key can then connect), or share it with --client NAME."]


def _record(manager: Manager, name: str) -> ServiceRecord:
    record = manager.store.get(name)
    if record is None:
        raise ServiceNotFound(f"There is no service named '{name}'.")
    return record


def secrets_of(manager: Manager, name: str) -> dict[str, Any]:
    """A service's device secrets (given and generated) and its CA, as ``--json`` shows them."""
    record = _record(manager, name)
    template = manager.template(record.template)
    devices = gateway_secrets.device_secrets(template, record.options)
    authority = gateway_tls.authority(manager.store.service_dir(name))
    if not devices and authority is None:
        raise MyOnionError(f"Service '{name}' has no device secrets and no CA.",
                           hint="Only services of the iot-receiver and mqtt-bridge templates "
                           "have them.")
    return {"service": name, "template": record.template,
            "devices": [d.to_dict() for d in devices],
            "tls": authority.to_dict() if authority and gateway_tls.wants_tls(
                template, record.options) else None}


def _qr(text: str) -> None:
    import segno

    segno.make(text, error="m").terminal(compact=True)


@click.command("secrets")
@click.argument("name")
@click.option("--qr", "qr", metavar="DEVICE|ca",
              help="Also print a QR code of a device's secret, or of the CA's fingerprint.")
@click.option("--ca-file", type=click.Path(dir_okay=False, writable=True),
              help="Write the gateway's CA certificate to this file (for devices).")
@click.option("--json", "as_json", is_flag=True)
def secrets_cmd(name: str, qr: str | None, ca_file: str | None, as_json: bool) -> None:
    """A gateway's or receiver's device secrets (given and generated) and its TLS CA."""
    data = secrets_of(common.manager(), name)
    tls = data["tls"]
    if ca_file:
        if tls is None:
            raise MyOnionError(f"Service '{name}' has no CA (lan_tls is off or not an option).")
        Path(ca_file).write_text(tls["ca_pem"])
        os.chmod(ca_file, 0o644)
    if as_json:
        json_out(data)
        return
    table = Table("option", "device", "secret", box=None)
    for device in data["devices"]:
        table.add_row(device["option"], device["device"], device["secret"] or "(not made yet)")
    out.print(table)
    if tls:
        # as written: a fingerprint's ":ab:" or ":id:" is no emoji, a file name no markup
        out.print(f"CA fingerprint: {tls['fingerprint']}", emoji=False, markup=False)
        out.print(f"CA file: {ca_file or '(write it with --ca-file PATH)'}", emoji=False,
                  markup=False)
    if qr == "ca" and tls:
        _qr(tls["fingerprint"])
    elif qr:
        found = [d for d in data["devices"] if d["device"] == qr and d["secret"]]
        if not found:
            raise MyOnionError(f"Service '{name}' has no device '{qr}' with a secret.")
        _qr(found[0]["secret"])
    err.print("These are secrets: a device's secret lets its holder send as that device.")


def deliveries_of(manager: Manager, name: str, limit: int) -> dict[str, Any]:
    """The last ``limit`` lines of a bridge's delivery log and the messages waiting."""
    from myonion.services.context import container_name
    from myonion.services.hostdirs import service_user

    record = _record(manager, name)
    template = manager.template(record.template)
    if template.option("delivery_log") is None:
        raise MyOnionError(f"Service '{name}' ({record.template}) keeps no delivery log.",
                           hint="The mqtt-bridge template does.")
    command = ["/usr/bin/python3", BRIDGE_PROGRAM, "deliveries", str(limit)]
    user = service_user(template, record.options)
    info = manager.runtime.get(container_name(name))
    if info is not None and info.running:
        code, output = manager.runtime.exec(container_name(name), command, user=user)
    elif record.image:
        code, output = manager.runtime.run_task(
            record.image, command,
            [Mount(f"{container_name(name)}-queue", QUEUE_DIR, volume=True)], user=user)
    else:
        raise MyOnionError(f"Service '{name}' has never run, so it has no delivery log.")
    line = next((x for x in reversed(output.splitlines()) if x.startswith("{")), "")
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if code != 0 or not isinstance(data, dict):
        raise MyOnionError(f"The delivery log of '{name}' could not be read.",
                           detail=output.strip()[-500:] or None)
    return {"service": name, **data}


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


@click.command("deliveries")
@click.argument("name")
@click.option("-n", "--tail", "limit", type=click.IntRange(1, 100000), default=50,
              show_default=True, help="The last N lines (and at most N waiting messages).")
@click.option("--json", "as_json", is_flag=True)
def deliveries_cmd(name: str, limit: int, as_json: bool) -> None:
    """A gateway's delivery log: each message's device, received, delivered, attempts, result."""
    data = deliveries_of(common.manager(), name, limit)
    if as_json:
        json_out(data)
        return
    table = Table("#", "device", "received", "done", "attempts", "result", "detail", box=None)
    for row in [*data["deliveries"], *data["pending"]]:
        table.add_row(str(row["message"] or "-"), row["device"], _when(row["received"]),
                      _when(row.get("done")), str(row["attempts"]), row["result"],
                      row.get("detail") or "")
    out.print(table)


@click.group("health")
def health_group() -> None:
    """What a gateway with health=true reports about this machine."""


@health_group.command("snapshot")
@click.option("--json", "as_json", is_flag=True)
def health_snapshot(as_json: bool) -> None:
    """Write the states of this machine's myonion services for its gateways (run it from cron or
    a systemd timer to keep them fresh; `myonion up` writes it too)."""
    path = gateway_health.snapshot(common.manager())
    if as_json:
        click.echo(path.read_text())
        return
    out.print(f"wrote {path}")
