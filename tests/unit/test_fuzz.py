"""Property-based tests (hypothesis): bad input gets a clear error, never another exception.

- template options of every template: random strings (newlines, NULs, ``../``, quotes, config
  injection attempts, huge numbers) → ``TemplateSpec.validate`` either accepts them, and then the
  rendered configuration has no injected line, or raises a MyOnionError;
- template manifests: mutated ``template.yaml`` files → ``load_template`` returns a template
  whose options validate without crashing, or raises TemplateError;
- the CLI: random ``-o`` arguments through ``myonion.cli.main`` (on the fake runtime) → exit
  status 0, 1 or 2, ``error:`` first on stderr for 1, never a traceback, and a refused share
  leaves nothing behind.

The number of inputs tried is counted and printed (``bench/suite_tables.py`` keeps it in
``bench/results/fuzz.md``).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myonion import cli
from myonion.build import render
from myonion.errors import MyOnionError, TemplateError
from myonion.manager import Manager
from myonion.runtime.fake import FakeRuntime
from myonion.services.store import StateStore
from myonion.templates import (
    COMMON_OPTIONS,
    TemplateRegistry,
    TemplateSpec,
    load_template,
    parse_option_args,
)
from tests import configs, tables
from tests.fakes import FakeTestnet
from tests.templates.test_every_template import minimal

REGISTRY = TemplateRegistry()
TEMPLATES = {t.id: t for t in REGISTRY.all()}
COUNTS: collections.Counter[str] = collections.Counter()
SERVICE = {"name": "fuzz", "network": "local", "mode": "ephemeral"}

INJECTIONS = [
    "x\nHiddenServicePort 22 127.0.0.1:22",
    "x\r\nHiddenServicePort 22 127.0.0.1:22",
    "index.html;\n    location / { root /; }",
    "index.html; autoindex on",
    "kitchen:AAAAAAAAAAAAAAAAAAAA\nHiddenServicePort 22 127.0.0.1:22",
    "kitchen:AAAAAAAAAAAAAAAAAAAA\n%include /etc/shadow",
    "sensors:correct-horse-battery\nuser _bridge",
    "sensors:correct-horse-battery\n\x00",
    "readings/#", "readings\ntopic readwrite #", "#", "+",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDh9f+9Z0RZp5CkXdftX9EP3chMT8hTfhfrXT7e9ff2N a\n"
    "command=\"/bin/sh\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDh9f+9Z0RZp5CkXdftX9EP3chMT8hTfhfrX",
    "homeassistant\nTARGET_PORT=22", "host$(id)", "host`id`", "127.0.0.1", "localhost",
    "169.254.169.254", "0x7f000001", "2130706433", "017700000001", "[::1]",
    "../../../../etc/passwd", "/etc/shadow", "/", "/proc/self/environ", "/dev/zero", "~",
    "'", '"', "\\", "\x00", "\n", "\r", "\t", " ", "", "{{ 7*7 }}", "{% raw %}", "${IFS}",
    "[/x]", "[bold]", "%s%s%s", "é", "\uff11\uff12\uff13", "9" * 5000, "-1", "0", "65536",
    "1e3", "0x10",
    "1_000", " 42 ", "true", "no", "None", "null",
]
TEXT = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from(list("ab:._-/ \n\r\t\x00#'\";{}$`\\=%")), max_size=80),
    st.sampled_from(INJECTIONS),
    st.lists(st.sampled_from(INJECTIONS), min_size=2, max_size=4).map("".join),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
VALUE = st.one_of(TEXT, st.integers(min_value=-(10**400), max_value=10**400), st.booleans(),
                  st.none(), st.floats(allow_nan=True))


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    if not COUNTS:
        return
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(COUNTS.items()))
    text = ("# Fuzzing (hypothesis): inputs tried\n\nCounted by `tests/unit/test_fuzz.py` (kept "
            "here by `bench/suite_tables.py`); every input got either a MyOnionError (CLI: "
            "exit status 0/1/2, `error:` first, no traceback) or success, and then every "
            "rendered file parsed (nginx, torrc, mosquitto, sshd, shell, YAML, JSON) to exactly "
            "the directives expected with that value.\n\n| what | inputs |\n|---|---|\n" + rows
            + f"\n| **total** | **{sum(COUNTS.values())}** |\n")
    tables.publish("fuzz.md", text)


# template options ---------------------------------------------------------------------------
def lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]


#: per multi-line (text) option: every non-comment line of the file it is rendered into must
#: match this (a line of the option's grammar, nothing that reads as another directive)
LINE_GRAMMAR = {
    ("iot-receiver", "devices"): re.compile(r"[ \t]*[a-z0-9_-]{1,64}(:[A-Za-z0-9._~+/=-]{16,256})?"
                                            r"[ \t]*"),
    ("mqtt-bridge", "lan_users"): re.compile(r"[ \t]*[a-z0-9][a-z0-9_-]{0,63}:[!-~]{12,128}[ \t]*"),
    ("mqtt-bridge", "routes"): re.compile(r"[ \t]*[a-z0-9_-]{1,64}[ \t]+http://[a-z2-7]{56}\.onion"
                                          r"(:[0-9]{1,5})?/\S*[ \t]+[A-Za-z0-9._~+/=-]{16,256}"
                                          r"[ \t]*"),
    ("ssh", "authorized_keys"): re.compile(r"[ \t]*(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+|"
                                           r"sk-\S+) [A-Za-z0-9+/=]+( [ -~]*)?"),
}
#: the runtime file each multi-line option is rendered into
TEXT_FILE = {("iot-receiver", "devices"): "devices", ("mqtt-bridge", "lan_users"): "lan_users",
             ("mqtt-bridge", "routes"): "routes", ("ssh", "authorized_keys"): "authorized_keys"}


#: options whose value becomes structure, not one token (checked on their own below)
STRUCTURAL = {("onionbalance", "instances")}
#: how each rendered file is read by the program that reads it (a text option's own file is
#: checked line by line against the option's grammar instead)
PARSERS: dict[str, Callable[[str], Any]] = {
    "torrc": configs.torrc,
    "nginx.conf": lambda text: configs.nginx_flat(configs.nginx(text)),
    "mosquitto.conf": configs.mosquitto,
    "acl": configs.mosquitto,
    "sshd_config": configs.sshd,
    "forward.env": configs.env_file,
    "healthcheck.sh": configs.shell_words,
    "onionbalance.yaml": yaml.safe_load,
}


def parse(filename: str, text: str) -> Any:
    if filename.endswith(".json"):
        return json.loads(text)
    assert filename in PARSERS, f"no parser for the rendered file {filename}: add one"
    return PARSERS[filename](text)


def with_sentinels(spec: TemplateSpec, values: dict[str, Any]) -> tuple[dict[str, Any],
                                                                          dict[str, str]]:
    """The same values with every one-token option (string, int) replaced by a sentinel that
    is a plain word in every configuration syntax, and what each sentinel stands for."""
    base = dict(values)
    table: dict[str, str] = {}
    for i, option in enumerate(spec.options):
        value = values.get(option.name)
        if value is None or (spec.id, option.name) in STRUCTURAL:
            continue
        if option.type == "string":
            base[option.name] = f"sentinel{i:02d}x"
        elif option.type == "int":
            base[option.name] = 900000001 + i
        else:
            continue
        table[str(base[option.name])] = str(value)
    return base, table


def substitute(parsed: Any, table: dict[str, str]) -> Any:
    """``parsed`` with every sentinel replaced by the value it stands for (in strings, and
    as whole numbers where a sentinel number was rendered as a JSON/YAML number)."""
    if isinstance(parsed, str):
        if not table:
            return parsed
        pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len,
                                                                         reverse=True)))
        return pattern.sub(lambda m: table[m.group(0)], parsed)
    if isinstance(parsed, int) and not isinstance(parsed, bool) and str(parsed) in table:
        return int(table[str(parsed)])
    if isinstance(parsed, list | tuple):
        return type(parsed)(substitute(x, table) for x in parsed)
    if isinstance(parsed, dict):
        return {substitute(k, table): substitute(v, table) for k, v in parsed.items()}
    return parsed


def check_rendered(spec: TemplateSpec, values: dict[str, Any]) -> None:
    """The rendered files of accepted values read (to nginx, tor, mosquitto, sshd, the shell)
    as exactly the same directives as with a harmless word in place of each one-token option,
    with the value given where that word was: nothing added, nothing split, nothing lost."""
    files = render.render_runtime_files(spec, SERVICE, values)
    base_values, table = with_sentinels(spec, values)
    base = render.render_runtime_files(spec, SERVICE, base_values)
    assert set(files) == set(base)
    text_files = {TEXT_FILE[(spec.id, o.name)]: o.name for o in spec.options
                  if (spec.id, o.name) in TEXT_FILE}
    for filename, text in files.items():
        assert "\x00" not in text
        if filename in text_files:
            grammar = LINE_GRAMMAR[(spec.id, text_files[filename])]
            for line in lines(text):
                assert grammar.fullmatch(line.rstrip("\r")), (filename, line)
            continue
        assert parse(filename, text) == substitute(parse(filename, base[filename]), table), (
            filename, text)
    check_what_options_say(spec, values, files)


def check_what_options_say(spec: TemplateSpec, values: dict[str, Any],
                           files: dict[str, str]) -> None:
    """What some options must come out as, whatever else the files hold."""
    torrc = configs.torrc(files["torrc"])
    expected = [f"{p.virtual} 127.0.0.1:{p.target}" for p in spec.onion_ports(values)]
    if spec.balance_frontend:
        expected = []  # no onion service of its own: onionbalance publishes the master's
    assert configs.torrc_values(torrc, "HiddenServicePort") == expected
    if spec.id == "site":
        server = configs.nginx(files["nginx.conf"])
        assert [d.args for d in configs.nginx_find(server, "http/server/index")] == [
            (values["index"],)]
        assert [d.args for d in configs.nginx_find(server, "http/server/autoindex")] == [
            ("on",) if values["listing"] else ("off",)]
    if spec.id == "onionbalance":
        doc = yaml.safe_load(files["onionbalance.yaml"])
        assert [i["address"] for i in doc["services"][0]["instances"]] == values[
            "instances"].replace(",", " ").split()


def fuzz_one_option(spec: TemplateSpec, option: str, value: Any) -> None:
    given_values = {**minimal(spec), option: value}
    for group in spec.one_of:  # the fuzzed option replaces its group's first option
        if option in group:
            given_values = {k: v for k, v in given_values.items()
                            if k not in group or k == option}
    COUNTS[f"options: {spec.id}"] += 1
    try:
        values = spec.validate(given_values)
    except MyOnionError as e:
        assert e.message and e.message[-1] in ".?!)'\"", e.message
        return
    try:
        check_rendered(spec, values)
    except MyOnionError:
        return


@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_option_values(template_id: str, data: st.DataObject) -> None:
    spec = TEMPLATES[template_id]
    option = data.draw(st.sampled_from([o.name for o in (*spec.options, *COMMON_OPTIONS)]))
    fuzz_one_option(spec, option, data.draw(VALUE))


@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(given_values=st.dictionaries(st.one_of(st.sampled_from(["dir", "index", "devices",
                                                                "routes", "lan_users",
                                                                "target_host", "lan_port",
                                                                "onion_broker", "pow_defense",
                                                                "intro_dos_rate",
                                                                "intro_dos_burst"]), st.text()),
                                    VALUE, max_size=5))
def test_random_option_sets(template_id: str, given_values: dict[str, Any]) -> None:
    spec = TEMPLATES[template_id]
    COUNTS[f"option sets: {template_id}"] += 1
    try:
        values = spec.validate(given_values)
    except MyOnionError:
        return
    try:
        check_rendered(spec, values)
    except MyOnionError:
        return


@pytest.mark.parametrize("value", INJECTIONS)
def test_known_injections_are_refused_or_harmless(value: str) -> None:
    for spec in TEMPLATES.values():
        for option in spec.options:
            fuzz_one_option(spec, option.name, value)


# manifests ----------------------------------------------------------------------------------
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
                   st.text(max_size=20), st.sampled_from(["(", "[a-", "string", "int", "x", ""]))
JSONISH = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
FIELDS = ["id", "title", "description", "options", "ports", "mounts", "volumes", "tmpfs",
          "runtime_files", "healthcheck", "cap_add", "tor_client", "one_of", "publish"]
OPTION_FIELDS = ["name", "type", "required", "default", "choices", "min", "max", "pattern",
                 "example", "secret", "format", "help"]


def mutate_manifest(data: st.DataObject, base: dict[str, Any]) -> dict[str, Any]:
    manifest = json.loads(json.dumps(base))
    for _ in range(data.draw(st.integers(1, 3))):
        if manifest.get("options") and isinstance(manifest["options"], list) and data.draw(
                st.booleans()):
            index = data.draw(st.integers(0, len(manifest["options"]) - 1))
            option = manifest["options"][index]
            if isinstance(option, dict):
                option[data.draw(st.sampled_from(OPTION_FIELDS))] = data.draw(JSONISH)
        else:
            manifest[data.draw(st.sampled_from(FIELDS))] = data.draw(JSONISH)
    return manifest


@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_manifests(template_id: str, data: st.DataObject) -> None:
    source = TEMPLATES[template_id].path
    base = yaml.safe_load((source / "template.yaml").read_text())
    manifest = mutate_manifest(data, base)
    COUNTS[f"manifests: {template_id}"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / template_id
        shutil.copytree(source, folder)
        (folder / "template.yaml").write_text(yaml.safe_dump(manifest))
        try:
            spec = load_template(folder)
        except TemplateError:
            return
        # a manifest that loads gives options that validate or refuse, nothing else
        for value in (data.draw(VALUE), "x"):
            for option in spec.options:
                with contextlib.suppress(MyOnionError):
                    spec.validate({**minimal_or_empty(spec), option.name: value})
        spec.to_dict()


def minimal_or_empty(spec: TemplateSpec) -> dict[str, Any]:
    try:
        return minimal(spec)
    except Exception:  # a mutated manifest may have anything as an example
        return {}


# the command line ---------------------------------------------------------------------------
OPTION_ARG = st.one_of(
    st.text(max_size=60),
    st.builds(lambda k, v: f"{k}={v}",
              st.sampled_from(["dir", "index", "listing", "devices", "max_body", "title",
                               "routes", "lan_users", "topic_prefix", "lan_port", "lan_address",
                               "onion_broker", "target_host", "target_port", "authorized_keys",
                               "authorized_keys_file", "pow_defense", "intro_dos_rate",
                               "intro_dos_burst", "nope", "", " "]),
              TEXT),
)


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(template=st.sampled_from([*sorted(TEMPLATES), "nope", "../site"]),
       args=st.lists(OPTION_ARG, max_size=4), name=st.one_of(st.none(), TEXT),
       ttl=st.one_of(st.none(), TEXT, st.sampled_from(["9" * 400, "1e9", "10s", "2h30m"])))
def test_cli_share_options(template: str, args: list[str], name: str | None, ttl: str | None,
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    COUNTS["cli: share -o …"] += 1
    home = tempfile.mkdtemp()
    try:
        os.environ["MYONION_HOME"] = home
        runtime = FakeRuntime(images={"myonion/base:bookworm"})
        manager = Manager(runtime=runtime, store=StateStore(), testnet=FakeTestnet())
        monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
        argv = ["share", template, "--no-wait"]
        for arg in args:
            argv += ["-o", arg]
        if name is not None:
            argv += ["--name", name]
        if ttl is not None:
            argv += ["--ttl", ttl]
        capsys.readouterr()
        code = cli.main(argv)
        captured = capsys.readouterr()
        assert code in (0, 1, 2), (argv, code, captured.err)
        assert "Traceback" not in captured.err + captured.out
        if code == 1:
            assert captured.err.startswith("error:"), (argv, captured.err)
        if code != 0:
            # a refused share changes nothing
            assert runtime.containers == {} and manager.store.all() == [], argv
        else:
            assert len(runtime.containers) == 1
            parsed = parse_option_args(args)
            spec = TEMPLATES[template]
            check_rendered(spec, spec.validate(parsed))
    finally:
        shutil.rmtree(home, ignore_errors=True)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.one_of(st.sampled_from(["ls", "status", "stop", "start", "rm", "repair",
                                                "logs", "address", "--json", "-o", "share",
                                                "clients", "keys", "--ttl", "--client"]),
                               st.text(max_size=20)), max_size=5))
def test_cli_random_arguments(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    COUNTS["cli: random arguments"] += 1
    if argv[:1] in (["gui"], ["testnet"], ["base"]) or "--debug" in argv or "-f" in argv or (
            "--follow" in argv):
        return
    runtime = FakeRuntime(images={"myonion/base:bookworm"})
    manager = Manager(runtime=runtime, store=StateStore(), testnet=FakeTestnet())
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    capsys.readouterr()
    code = cli.main([*argv, "--no-wait"] if argv[:1] == ["share"] else argv)
    captured = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, captured.err)
    assert "Traceback" not in captured.err + captured.out
    if code == 1:
        assert captured.err.startswith("error:"), (argv, captured.err)


# deployment files -----------------------------------------------------------------------------
DEPLOYMENTS = sorted(Path(__file__).resolve().parents[2].glob("compose/*/myonion.yaml"))
DEPLOY_KEYS = ["version", "name", "services"]
SERVICE_KEYS = ["template", "options", "persistent", "clients", "ttl", "network", "limits"]


@pytest.mark.parametrize("source", DEPLOYMENTS, ids=lambda p: p.parent.name)
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_deployment_files(source: Path, data: st.DataObject) -> None:
    """Mutated deployment files: ``deploy.load`` returns a deployment or raises a MyOnionError
    (with file and line), never another exception."""
    from myonion import deploy

    COUNTS[f"deployment files: {source.parent.name}"] += 1
    document = yaml.safe_load(source.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        services = document.get("services") if isinstance(document, dict) else None
        if isinstance(services, dict) and services and data.draw(st.booleans()):
            name = data.draw(st.sampled_from(sorted(services)))
            service = services[name]
            if isinstance(service, dict) and isinstance(service.get("options"), dict) and (
                    data.draw(st.booleans())):
                key = data.draw(st.sampled_from([*sorted(service["options"]), "nope"]))
                service["options"][key] = data.draw(st.one_of(VALUE, JSONISH))
            elif isinstance(service, dict):
                service[data.draw(st.sampled_from(SERVICE_KEYS))] = data.draw(
                    st.one_of(JSONISH, TEXT))
            else:
                services[name] = data.draw(JSONISH)
        elif isinstance(document, dict):
            document[data.draw(st.sampled_from(DEPLOY_KEYS))] = data.draw(JSONISH)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / source.parent.name
        shutil.copytree(source.parent, folder)
        text = data.draw(st.one_of(st.just(yaml.safe_dump(document)),
                                   st.just(yaml.safe_dump(document)[: data.draw(
                                       st.integers(0, 400))]),
                                   st.text(max_size=100)))
        (folder / "myonion.yaml").write_text(text)
        with contextlib.suppress(MyOnionError):
            deploy.load(folder / "myonion.yaml", REGISTRY)
