"""Minimal valid options of every built-in template, for integration tests that run each one
(the secret words must never show anywhere but the service's 0600 files)."""

from __future__ import annotations

from typing import Any

from myonion import keys

TOKEN = "HardeningToken0123456789"
PASSWORD = "HardeningPass-0123"
SSH_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDh9f+9Z0RZp5CkXdftX9EP3chMT8hTfhfrXT7e9ff2N "
           "me@laptop")
ONION = "http://" + "a" * 55 + "d.onion/api/v1/readings/kitchen"
OPTIONS: dict[str, dict[str, Any]] = {
    "site": {},
    "ssh": {"authorized_keys": SSH_KEY},
    "iot-receiver": {"devices": f"kitchen:{TOKEN}"},
    # nothing listens there: the forward accepts the onion's connections and fails upstream
    "forward": {"target_host": "hard-nowhere", "target_port": 80},
    "mqtt-bridge": {"routes": f"kitchen {ONION} {TOKEN}", "lan_users": f"sensors:{PASSWORD}"},
    # a frontend alone, for backends that are not there: it runs, but its address serves
    # nothing (readiness is not waited for; test_balance.py shows one that serves)
    "onionbalance": {"instances": " ".join(keys.generate_onion_key().address
                                           for _ in range(2))},
}
SECRETS = (TOKEN, PASSWORD)
