#!/usr/bin/env python3
"""A sensor device for a myonion gateway (the mqtt-bridge template), as an ESP32 sketch would be:
a reading every N seconds, over MQTT with TLS (paho) or as an HTTPS PUT (standard library only),
checked against the gateway's own CA.

    export DEVICE_SECRET=...      # `myonion secrets gateway` shows it (never on a command line)
    myonion secrets gateway --ca-file ca.crt
    python3 device.py --device kitchen --host pi.local --cafile ca.crt --mqtt-port 8883
    python3 device.py --device kitchen --host pi.local --cafile ca.crt --http-port 8443

The reading is a made-up temperature and humidity (a slow random walk), or this machine's load
(--sensor load). Without --cafile the connection is plaintext: only where the gateway was shared
with lan_tls=false. The device publishes on <topic-prefix>/<device> only: the gateway refuses
anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import ssl
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def readings(sensor: str) -> Any:
    """An endless series of readings (dicts of numbers)."""
    temp, hum, seq = 21.0, 45.0, 0
    while True:
        seq += 1
        if sensor == "load":
            with open("/proc/loadavg") as f:
                yield {"load_1": float(f.read().split()[0]), "seq": seq}
            continue
        temp = round(min(35.0, max(5.0, temp + random.uniform(-0.3, 0.3))), 2)
        hum = round(min(95.0, max(10.0, hum + random.uniform(-1.0, 1.0))), 1)
        yield {"temp": temp, "hum": hum, "seq": seq}


def tls_context(cafile: str | None) -> ssl.SSLContext | None:
    """Trust the gateway's CA only (not the system's): a certificate from anyone else fails."""
    if cafile is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile)
    return context


class MqttSender:
    """One MQTT connection (paho 1.6 or 2.x), user name = device id, QoS 1."""

    def __init__(self, args: argparse.Namespace, secret: str) -> None:
        import paho.mqtt.client as mqtt

        self.topic = f"{args.topic_prefix}/{args.device}"
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho 2
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.device)
        else:
            self.client = mqtt.Client(client_id=args.device)
        self.client.username_pw_set(args.device, secret)
        context = tls_context(args.cafile)
        if context is not None:
            self.client.tls_set_context(context)
        self.client.connect(args.host, args.mqtt_port, keepalive=60)
        self.client.loop_start()

    def send(self, reading: dict[str, Any]) -> str:
        info = self.client.publish(self.topic, json.dumps(reading), qos=1)
        info.wait_for_publish(30)
        return "published" if info.is_published() else "not acknowledged"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class HttpSender:
    """A PUT of each reading to the gateway's HTTP door, the device's secret as bearer token."""

    def __init__(self, args: argparse.Namespace, secret: str) -> None:
        scheme = "https" if args.cafile else "http"
        self.url = f"{scheme}://{args.host}:{args.http_port}/api/v1/readings/{args.device}"
        self.secret, self.context = secret, tls_context(args.cafile)

    def send(self, reading: dict[str, Any]) -> str:
        request = urllib.request.Request(self.url, data=json.dumps(reading).encode(),
                                         method="PUT", headers={
                                             "Content-Type": "application/json",
                                             "Authorization": f"Bearer {self.secret}"})
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
                return f"HTTP {response.status} {response.read().decode().strip()}"
        except urllib.error.HTTPError as e:
            return f"HTTP {e.code} {e.read().decode().strip()}"

    def close(self) -> None:
        pass


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", required=True, help="the device's id (its MQTT user name)")
    parser.add_argument("--host", required=True, help="the gateway's name or address")
    way = parser.add_mutually_exclusive_group(required=True)
    way.add_argument("--mqtt-port", type=int, help="the gateway's lan_port")
    way.add_argument("--http-port", type=int, help="the gateway's lan_http_port")
    parser.add_argument("--cafile", help="the gateway's CA (`myonion secrets NAME --ca-file`)")
    parser.add_argument("--secret-file", help="a file with the device's secret "
                        "(default: $DEVICE_SECRET)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between readings")
    parser.add_argument("--count", type=int, default=0, help="stop after N readings (0: never)")
    parser.add_argument("--topic-prefix", default="readings")
    parser.add_argument("--sensor", choices=("random", "load"), default="random")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = arguments(argv)
    if args.secret_file:
        with open(args.secret_file) as f:
            secret = f.read().strip()
    else:
        secret = os.environ.get("DEVICE_SECRET", "")
    if not secret:
        print("device: give the device's secret in $DEVICE_SECRET or --secret-file",
              file=sys.stderr)
        return 2
    sender = MqttSender(args, secret) if args.mqtt_port else HttpSender(args, secret)
    try:
        for n, reading in enumerate(readings(args.sensor), start=1):
            try:
                result = sender.send(reading)
            except OSError as e:  # the gateway is away: try again with the next reading
                result = f"failed ({e})"
            print(f"{time.strftime('%H:%M:%S')} {args.device} {json.dumps(reading)}: {result}",
                  flush=True)
            if args.count and n >= args.count:
                return 0
            time.sleep(args.every)
    finally:
        sender.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
