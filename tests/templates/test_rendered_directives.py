"""What each rendered configuration says, read as its program reads it (tests/configs.py):
exactly these directives, each exactly once where the program takes the first or the last, with
the option values given and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from myonion.build import render
from myonion.templates import TemplateRegistry, TemplateSpec
from tests import configs
from tests.templates.test_every_template import minimal

REGISTRY = TemplateRegistry()
SERVICE = {"name": "svc", "network": "local", "mode": "persistent"}


def rendered(spec: TemplateSpec, **options: Any) -> dict[str, str]:
    return render.render_runtime_files(spec, SERVICE, spec.validate({**minimal(spec),
                                                                     **options}))


@pytest.mark.parametrize("index", ["index.html", "home.htm", "a-b_c.1", "x" * 64])
@pytest.mark.parametrize("listing", [False, True])
@pytest.mark.parametrize("folder", [False, True])
def test_site_nginx_has_exactly_the_directives_asked_for(index: str, listing: bool,
                                                         folder: bool, tmp_path: Any) -> None:
    options: dict[str, Any] = {"index": index, "listing": listing}
    if folder:
        options["dir"] = str(tmp_path)
    conf = configs.nginx(rendered(REGISTRY.get("site"), **options)["nginx.conf"])
    server = [(name, args) for context, name, args in configs.nginx_flat(conf)
              if context == "http/server"]
    assert server == [
        ("listen", ("127.0.0.1:8080",)),
        ("root", ("/srv/site" if folder else "/usr/share/myonion/site",)),
        # a symbolic link anywhere below the folder is never followed
        ("disable_symlinks", ("on", "from=$document_root")),
        ("index", (index,)),
        ("autoindex", ("on" if listing else "off",)),
        ("add_header", ("Referrer-Policy", "no-referrer", "always")),
        ("add_header", ("X-Content-Type-Options", "nosniff", "always")),
        ("location", ("~", "/\\.")),
    ]
    assert [d.args for d in configs.nginx_find(conf, "http/server/location/deny")] == [("all",)]
    assert [d.name for d in conf] == ["daemon", "worker_processes", "pid", "error_log", "events",
                                      "http"]
    # the ordinary service user: nginx as usual (its master switches no users)
    assert not configs.nginx_find(conf, "user") and not configs.nginx_find(conf, "master_process")
    http = configs.nginx_find(conf, "http")[0].block or []
    assert [d.args for d in http if d.name == "server_tokens"] == [("off",)]
    assert [d.name for d in http].count("server") == 1


TORRC_KEYWORDS = ["DataDirectory", "GeoIPFile", "GeoIPv6File", "Log", "SafeLogging",
                  "AvoidDiskWrites", "SocksPort", "ORPort", "ControlSocket",
                  "CookieAuthentication", "CookieAuthFile", "CookieAuthFileGroupReadable"]


DOS = {"pow_defense": True, "intro_dos_rate": 20}


# the DoS options are refused on an Onionbalance frontend (it has no onion service of its own)
@pytest.mark.parametrize(("template_id", "dos"), [
    (t, dos) for t in REGISTRY.ids() for dos in ({}, DOS)
    if not (dos and REGISTRY.get(t).balance_frontend)])
def test_torrc_has_exactly_the_expected_keywords(template_id: str, dos: dict[str, Any]) -> None:
    spec = REGISTRY.get(template_id)
    variants = [{}] + ([{"onion_broker": True}] if spec.option("onion_broker") else [])
    for options in variants:
        values = spec.validate({**minimal(spec), **options, **dos})
        torrc = configs.torrc(render.render_runtime_files(spec, SERVICE, values)["torrc"])
        ports = [f"{p.virtual} 127.0.0.1:{p.target}" for p in spec.onion_ports(values)]
        expected = list(TORRC_KEYWORDS)
        if not spec.balance_frontend:
            expected += ["HiddenServiceDir"] + ["HiddenServicePort"] * len(ports)
            if dos:  # what the options ask for, nothing else
                expected += ["HiddenServicePoWDefensesEnabled",
                             "HiddenServiceEnableIntroDoSDefense",
                             "HiddenServiceEnableIntroDoSRatePerSec",
                             "HiddenServiceEnableIntroDoSBurstPerSec"]
        expected += ["%include", "%include"]
        assert [k for k, _ in torrc] == expected
        if not spec.balance_frontend:
            assert configs.torrc_values(torrc, "HiddenServicePort") == ports
        if dos:
            assert configs.torrc_values(torrc, "HiddenServiceEnableIntroDoSRatePerSec") == ["20"]
            assert configs.torrc_values(torrc, "HiddenServiceEnableIntroDoSBurstPerSec") == [
                "160"]
        assert configs.torrc_values(torrc, "%include") == [
            "/etc/tor/torrc.d/*.conf", "/var/lib/tor/hold.conf"]


@pytest.mark.parametrize("max_message", [256, 65536, 1048576])
@pytest.mark.parametrize("prefix", ["readings", "a", "x-y_z"])
def test_mosquitto_conf_and_acl_have_exactly_the_expected_keys(max_message: int,
                                                               prefix: str) -> None:
    files = rendered(REGISTRY.get("mqtt-bridge"), max_message=max_message, topic_prefix=prefix)
    assert configs.mosquitto(files["mosquitto.conf"]) == [
        ("per_listener_settings", "false"), ("allow_anonymous", "false"),
        ("password_file", "/tmp/mosquitto/passwd"), ("acl_file", "/etc/myonion/acl"),
        ("persistence", "true"), ("persistence_location", "/var/lib/myonion-mqtt/"),
        ("autosave_interval", "10"), ("log_dest", "stderr"), ("log_type", "error"),
        ("log_type", "warning"), ("log_type", "notice"), ("connection_messages", "true"),
        ("message_size_limit", str(max_message)), ("max_queued_messages", "10000"),
        ("max_queued_bytes", "33554432"), ("listener", "1883 0.0.0.0"),
        ("max_connections", "128")]
    # LAN users write only the topics of routed devices (the example routes one: kitchen)
    assert configs.mosquitto(files["acl"]) == [
        ("user", "_bridge"), ("topic", f"read {prefix}/+"),
        ("pattern", f"write {prefix}/kitchen")]


def test_sshd_config_has_exactly_the_expected_keys_once_each() -> None:
    spec = REGISTRY.get("ssh")
    config = configs.sshd(rendered(spec)["sshd_config"])
    keys = [k for k, _ in config]
    # sshd takes the first value of most keywords: a second one would be silently ignored,
    # or, placed first, win
    assert len(keys) == len(set(keys))
    assert dict(config) == {
        "port": "2222", "listenaddress": "127.0.0.1", "addressfamily": "inet",
        "hostkey": "/var/lib/myonion-ssh/ssh_host_ed25519_key", "pidfile": "none",
        "authorizedkeysfile": "/etc/myonion/authorized_keys",
        "authorizedprincipalsfile": "none", "strictmodes": "no", "allowusers": "myonion",
        "pubkeyauthentication": "yes", "passwordauthentication": "no",
        "kbdinteractiveauthentication": "no", "hostbasedauthentication": "no",
        "permitemptypasswords": "no", "permitrootlogin": "no", "usepam": "no",
        "disableforwarding": "yes", "allowtcpforwarding": "no",
        "allowstreamlocalforwarding": "no", "allowagentforwarding": "no",
        "x11forwarding": "no", "permittunnel": "no", "gatewayports": "no",
        "permituserenvironment": "no", "permituserrc": "no", "usedns": "no",
        "printmotd": "no", "printlastlog": "no", "maxauthtries": "3",
        "logingracetime": "30", "maxstartups": "10:30:60", "maxsessions": "4",
        "clientaliveinterval": "60", "loglevel": "INFO", "subsystem": "sftp internal-sftp"}


@pytest.mark.parametrize(("host", "port"), [("homeassistant.lan", 8123), ("192.168.1.20", 1),
                                            ("cam", 65535)])
def test_forward_config_says_exactly_the_target(host: str, port: int) -> None:
    files = rendered(REGISTRY.get("forward"), target_host=host, target_port=port,
                     max_connections=7)
    config = json.loads(files["forward.json"])
    assert set(config) == {"service", "target_host", "target_port", "allow_this_machine",
                           "max_connections", "connect_timeout", "idle_timeout",
                           "host_addresses", "testnet_addresses"}
    assert (config["target_host"], config["target_port"], config["max_connections"],
            config["allow_this_machine"]) == (host, port, 7, False)
