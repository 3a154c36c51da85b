"""Deployment files on the fake runtime: checking, up/ps/down, Compose export, systemd unit."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from myonion import cli, deploy
from myonion.build import render
from myonion.cli import main
from myonion.errors import MyOnionError
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_DEPLOYMENT, LABEL_HOME, LABEL_ROLE, ContainerSpec, Mount
from myonion.runtime.fake import FakeRuntime

DEVICES = "kitchen:kitchen-t0k3n-for-tests"


def write(folder: Path, text: str) -> Path:
    path = folder / "myonion.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "Pi Stack"
    (folder / "site").mkdir(parents=True)
    (folder / "site" / "index.html").write_text("hello")
    return folder


@pytest.fixture
def good(project: Path) -> Path:
    return write(project, f"""\
        version: 1
        name: dep
        services:
          depsite:
            template: site
            options:
              dir: ./site
          deprecv:
            template: iot-receiver
            options:
              devices: "{DEVICES}"
            persistent: true
            clients: [alice]
            limits: {{memory: 128m, pids: 64}}
        """)


def ids(runtime: FakeRuntime) -> dict[str, str]:
    return {name: info.id for name, (_, info) in runtime.containers.items()}


# --- the file -------------------------------------------------------------------------------
def test_load_resolves_paths_beside_the_file(good: Path, project: Path) -> None:
    d = deploy.load(good)
    assert d.name == "dep" and d.path == good.resolve()
    site, recv = d.services
    assert site.given["dir"] == str((project / "site").resolve())
    assert site.network == "local" and not site.persistent and site.line == 4
    assert recv.persistent and recv.clients == ("alice",)
    assert recv.limits == {"memory": "128m", "pids": 64}


def test_name_defaults_to_the_folder(project: Path) -> None:
    path = write(project, "version: 1\nservices:\n  a:\n    template: site\n")
    assert deploy.load(path).name == "pi-stack"


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 2\nservices:\n  a:\n    template: site\n", ["myonion.yaml:1: version: must be 1"]),
    ("version: 1\nservices: {}\n", ["myonion.yaml:2: services: needs at least one service"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    options:\n      dir: ./missing\n",
     ["myonion.yaml:6: services.a.options.dir: ./missing does not exist (that is /",
      "/missing). Give an existing folder"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    options: {colour: red}\n",
     ["myonion.yaml:5: services.a.options.colour: template 'site' has no option 'colour'"]),
    ("version: 1\nservices:\n  a:\n    template: nope\n",
     ["myonion.yaml:4: services.a.template: There is no template 'nope'"]),
    ("version: 1\nservices:\n  a:\n    template: iot-receiver\n",
     ["myonion.yaml:3: services.a: Template 'iot-receiver' needs option 'devices'"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    persistent: maybe\n",
     ["myonion.yaml:5: services.a.persistent: must be true or false"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    clients: [alice, alice]\n",
     ["myonion.yaml:5: services.a.clients[1]: client 'alice' is named twice"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    ttl: soon\n",
     ["myonion.yaml:5: services.a.ttl: 'soon' is not a duration"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    network: tor\n",
     ["myonion.yaml:5: services.a.network: ", "refused"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    limits:\n      memory: 1m\n",
     ["myonion.yaml:6: services.a.limits.memory: ", "too small"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    limits:\n      cpus: 2\n",
     ["myonion.yaml:6: services.a.limits.cpus: is not a field here"]),
    ("version: 1\nservices:\n  a:\n    template: site\n    port: 80\n",
     ["myonion.yaml:5: services.a.port: is not a field here"]),
    ("version: 1\nservices:\n  Bad_Name:\n    template: site\n",
     ["myonion.yaml:3: services.Bad_Name: 'Bad_Name' is not a valid service name"]),
    ("version: 1\nservices:\n  a:\n    template: site\n  a:\n    template: site\n",
     ["myonion.yaml:5: services.a: is given twice"]),
    ("version: 1\nservices:\n  a: [\n", ["myonion.yaml:", "not valid YAML"]),
    ("", ["myonion.yaml: is empty"]),
])
def test_mistakes_name_file_line_and_field(project: Path, monkeypatch: pytest.MonkeyPatch,
                                           text: str, expected: list[str]) -> None:
    write(project, text)
    monkeypatch.chdir(project)
    with pytest.raises(deploy.DeploymentError) as caught:
        deploy.load("myonion.yaml")
    for words in expected:
        assert words in str(caught.value)


def test_every_mistake_is_reported_at_once(project: Path) -> None:
    path = write(project, """\
        version: 1
        services:
          a:
            template: site
            options: {dir: ./nope}
          b:
            template: site
            ttl: soon
        """)
    with pytest.raises(deploy.DeploymentError) as caught:
        deploy.load(path)
    assert [p.field for p in caught.value.problems] == ["services.a.options.dir",
                                                         "services.b.ttl"]


ROUTE = "kitchen http://${deprecv.address}/api/v1/readings/kitchen kitchen-t0k3n-for-tests"


def gateway(project: Path, receiver_persistent: bool = True, extra: str = "") -> Path:
    return write(project, f"""\
        version: 1
        services:
          depgw:
            template: mqtt-bridge
            options:
              routes: "{ROUTE}"
              devices: "kitchen:broker-pw-for-tests"
          deprecv:
            template: iot-receiver
            persistent: {str(receiver_persistent).lower()}
            options: {{devices: "{DEVICES}"}}
        {extra}""")


def test_references_order_the_services(project: Path) -> None:
    d = deploy.load(gateway(project))
    assert [s.name for s in d.ordered()] == ["deprecv", "depgw"]
    assert d.services[0].needs == ("deprecv",)
    address = "b" * 56 + ".onion"
    assert address in d.services[0].options({"deprecv": address})["routes"]


def test_a_reference_needs_a_persistent_service(project: Path) -> None:
    with pytest.raises(deploy.DeploymentError, match="not persistent"):
        deploy.load(gateway(project, receiver_persistent=False))


def test_unknown_and_cyclic_references(project: Path) -> None:
    path = write(project, """\
        version: 1
        services:
          a:
            template: site
            persistent: true
            options: {index: "${b.address}"}
          b:
            template: site
            persistent: true
            options: {index: "${a.address}"}
          c:
            template: site
            options: {index: "${ghost.address}"}
        """)
    with pytest.raises(deploy.DeploymentError) as caught:
        deploy.load(path)
    text = str(caught.value)
    assert "cycle" in text and "'ghost', which is no service" in text


# --- up, ps, down ---------------------------------------------------------------------------
def test_bad_file_changes_nothing(manager: Manager, runtime: FakeRuntime, project: Path) -> None:
    path = write(project, "version: 1\nservices:\n  a:\n    template: site\n"
                 "    options: {dir: ./nope}\n  b:\n    template: site\n")
    with pytest.raises(deploy.DeploymentError):
        deploy.up(manager, deploy.load(path), wait=False)
    assert runtime.containers == {} and runtime.builds == [] and manager.store.all() == []


def test_up_creates_and_tags(manager: Manager, runtime: FakeRuntime, good: Path) -> None:
    steps = deploy.up(manager, deploy.load(good), wait=False)
    assert [(s.service, s.action) for s in steps] == [("depsite", "create"),
                                                      ("deprecv", "create")]
    spec, info = runtime.containers[container_name("deprecv")]
    assert info.running and spec.labels[LABEL_DEPLOYMENT] == "dep"
    assert spec.mem_limit == "128m" and spec.pids_limit == 64
    assert manager.store.get("deprecv").deployment == "dep"  # type: ignore[union-attr]
    assert manager.status("deprecv").private and manager.status("deprecv").clients == 1
    site_spec, _ = runtime.containers[container_name("depsite")]
    assert site_spec.mem_limit == "256m" and site_spec.pids_limit == 128


def test_up_again_changes_nothing(manager: Manager, runtime: FakeRuntime, good: Path) -> None:
    deploy.up(manager, deploy.load(good), wait=False)
    before, builds = ids(runtime), list(runtime.builds)
    steps = deploy.up(manager, deploy.load(good), wait=False)
    assert [s.action for s in steps] == ["unchanged", "unchanged"]
    assert ids(runtime) == before and runtime.builds == builds


def test_a_changed_option_recreates_only_that_service(manager: Manager, runtime: FakeRuntime,
                                                      good: Path) -> None:
    deploy.up(manager, deploy.load(good), wait=False)
    manager.store.update("deprecv", address="x" * 56 + ".onion")
    before = ids(runtime)
    volumes = dict(runtime.volumes)
    good.write_text(good.read_text().replace('devices: "', 'title: Home\n      devices: "'))
    steps = deploy.up(manager, deploy.load(good), wait=False)
    assert [(s.action, s.reason) for s in steps] == [
        ("unchanged", ""), ("recreate", "changed: options title")]
    after = ids(runtime)
    assert after[container_name("depsite")] == before[container_name("depsite")]
    assert after[container_name("deprecv")] != before[container_name("deprecv")]
    assert runtime.volumes.keys() == volumes.keys()  # the key and the data are kept
    record = manager.store.get("deprecv")
    assert record is not None and record.options["title"] == "Home"
    assert record.address == "x" * 56 + ".onion" and record.deployment == "dep"
    assert manager.clients("deprecv")[0].name == "alice"


def test_clients_and_mode_changes(manager: Manager, runtime: FakeRuntime, good: Path) -> None:
    deploy.up(manager, deploy.load(good), wait=False)
    key = manager.client_key("deprecv", "alice")
    good.write_text(good.read_text().replace("[alice]", "[alice, bob]")
                    .replace("persistent: true", "persistent: false"))
    steps = deploy.up(manager, deploy.load(good), wait=False)
    assert "clients" in steps[1].reason and "persistent → ephemeral" in steps[1].reason
    assert [c.name for c in manager.clients("deprecv")] == ["alice", "bob"]
    assert manager.client_key("deprecv", "alice") == key
    assert "myonion-deprecv-tor" not in runtime.volumes  # an ephemeral key lives in memory
    assert "myonion-deprecv-data" in runtime.volumes
    good.write_text(good.read_text().replace("    clients: [alice, bob]\n", ""))
    deploy.up(manager, deploy.load(good), wait=False)
    view = manager.status("deprecv")
    assert not view.private and manager.clients("deprecv") == []
    spec, _ = runtime.containers[container_name("deprecv")]
    conf = manager.store.service_dir("deprecv") / "conf"
    assert not (conf / "authorized_clients").exists() and spec.restart == "on-failure"


def test_a_stopped_service_is_started(manager: Manager, runtime: FakeRuntime,
                                      good: Path) -> None:
    deploy.up(manager, deploy.load(good), wait=False)
    manager.stop("depsite")
    steps = deploy.up(manager, deploy.load(good), wait=False)
    assert [s.action for s in steps] == ["start", "unchanged"]
    assert runtime.containers[container_name("depsite")][1].running


def test_a_name_used_outside_the_deployment_is_refused(manager: Manager, runtime: FakeRuntime,
                                                       good: Path, project: Path) -> None:
    manager.share("site", {}, name="deprecv", wait=False)
    before = ids(runtime)
    with pytest.raises(deploy.DeploymentError, match="belongs to no deployment"):
        deploy.up(manager, deploy.load(good), wait=False)
    assert ids(runtime) == before and [r.name for r in manager.store.all()] == ["deprecv"]


def test_down_keeps_keys_and_up_brings_them_back(manager: Manager, runtime: FakeRuntime,
                                                 good: Path) -> None:
    deploy.up(manager, deploy.load(good), wait=False)
    manager.store.update("deprecv", address="x" * 56 + ".onion")
    volumes = set(runtime.volumes)
    assert deploy.down(manager, good) == ["deprecv", "depsite"]
    assert runtime.containers == {} and set(runtime.volumes) == volumes
    view = manager.status("deprecv")
    assert view.state == "stopped" and view.stage == "down"
    assert view.address == "x" * 56 + ".onion" and manager.clients("deprecv")
    rows = deploy.ps(manager, good)
    assert [(r.service, r.view.stage if r.view else None) for r in rows] == [
        ("depsite", "down"), ("deprecv", "down")]
    steps = deploy.up(manager, deploy.load(good), wait=False)
    assert [s.action for s in steps] == ["start", "start"]
    assert all(info.running for _, info in runtime.containers.values())
    assert manager.status("deprecv").address == "x" * 56 + ".onion"


def test_down_purge_removes_everything(manager: Manager, runtime: FakeRuntime,
                                       good: Path) -> None:
    deploy.up(manager, deploy.load(good), wait=False)
    manager.share("site", {}, name="other", wait=False)
    deploy.down(manager, good, purge=True)
    assert list(runtime.containers) == [container_name("other")]
    assert not [v for v in runtime.volumes if v.startswith("myonion-dep")]
    assert [r.name for r in manager.store.all()] == ["other"]
    assert [r.view for r in deploy.ps(manager, good)] == [None, None]


def test_references_get_the_address(manager: Manager, runtime: FakeRuntime,
                                    project: Path) -> None:
    d = deploy.load(gateway(project))
    address = "b" * 56 + ".onion"
    real_share = manager.share

    def share(*args: object, **kw: object) -> object:
        view = real_share(*args, **kw)  # type: ignore[arg-type]
        if view.name == "deprecv":
            manager.store.update("deprecv", address=address)
            return manager.status("deprecv")
        return view

    manager.share = share  # type: ignore[method-assign]
    deploy.up(manager, d, wait=False)
    record = manager.store.get("depgw")
    assert record is not None and address in record.options["routes"]
    assert [s.action for s in deploy.up(manager, d, wait=False)] == ["unchanged", "unchanged"]


# --- Compose export -------------------------------------------------------------------------
def test_compose_service_translates_a_container_spec(tmp_path: Path) -> None:
    spec = ContainerSpec(
        name="myonion-blog", image="myonion/site:abc",
        labels={"org.myonion.service": "blog", LABEL_ROLE: "service", LABEL_HOME: "h"},
        user="10001:10001",
        mounts=[Mount(str(tmp_path / "myonion/blog/conf"), "/etc/myonion", read_only=True),
                Mount(str(tmp_path / "myonion/blog/ctl"), "/run/myonion/ctl"),
                Mount("/srv/www", "/srv/site", read_only=True),
                Mount("myonion-blog-tor", "/var/lib/tor", volume=True),
                Mount("myonion-testnet-include", "/etc/tor/torrc.d", read_only=True,
                      volume=True)],
        tmpfs={"/tmp": "rw,size=64m"}, network="myonion-testnet",
        extra_networks=["myonion-testnet-access"], ports={"1883/tcp": ("127.0.0.1", 1883)},
        cap_add=["NET_BIND_SERVICE"], mem_limit="128m", pids_limit=64,
        restart="unless-stopped", hostname="blog",
        healthcheck={"test": ["CMD", "true"], "interval": "30s", "retries": 3})
    service = deploy.compose_service(spec, tmp_path)
    assert service["image"] == "myonion/site:abc" and service["user"] == "10001:10001"
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert service["cap_add"] == ["NET_BIND_SERVICE"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert service["mem_limit"] == "128m" and service["pids_limit"] == 64
    assert service["restart"] == "unless-stopped" and service["hostname"] == "blog"
    assert service["tmpfs"] == ["/tmp:rw,size=64m", "/run/myonion/ctl:rw,nosuid,nodev,size=1m,"
                                "uid=10001,gid=10001,mode=0700"]
    assert service["volumes"] == [
        {"type": "bind", "source": "./myonion/blog/conf", "target": "/etc/myonion",
         "read_only": True},
        {"type": "bind", "source": "/srv/www", "target": "/srv/site", "read_only": True},
        {"type": "volume", "source": "myonion-blog-tor", "target": "/var/lib/tor"},
        {"type": "volume", "source": "myonion-testnet-include", "target": "/etc/tor/torrc.d",
         "read_only": True}]
    assert service["ports"] == ["127.0.0.1:1883:1883/tcp"]
    assert service["networks"] == ["myonion-testnet", "myonion-testnet-access"]
    assert service["healthcheck"] == {"test": ["CMD", "true"], "interval": "30s", "retries": 3}
    # labels that would make `myonion ls` adopt the container are left out
    assert LABEL_ROLE not in service["labels"] and LABEL_HOME not in service["labels"]
    doc = deploy.compose_document({"blog": spec}, tmp_path, {"myonion-testnet-include"})
    assert doc["volumes"]["myonion-testnet-include"] == {"external": True}
    assert "external" not in doc["volumes"]["myonion-blog-tor"]
    assert doc["networks"] == {"myonion-testnet": {"external": True},
                               "myonion-testnet-access": {"external": True}}


def test_export_compose_matches_what_the_manager_creates(manager: Manager, runtime: FakeRuntime,
                                                         good: Path, tmp_path: Path) -> None:
    out = tmp_path / "export" / "compose.yaml"
    result = deploy.export_compose(manager, deploy.load(good), out)
    doc = yaml.safe_load(out.read_text())
    assert set(doc["services"]) == {"depsite", "deprecv"}
    recv = doc["services"]["deprecv"]
    assert recv["image"].startswith("myonion/iot-receiver:") and recv["image"] in runtime.images
    assert recv["mem_limit"] == "128m" and recv["restart"] == "unless-stopped"
    assert {"type": "volume", "source": "myonion-deprecv-tor", "target": "/var/lib/tor"} in \
        recv["volumes"]
    conf = out.parent / "myonion" / "deprecv" / "conf"
    assert "HiddenServicePort 80 127.0.0.1:8080" in (conf / "torrc").read_text()
    # the device tokens: 0600 and the container's user's, as `up` leaves them; the rest 0644
    secret = [f for f in conf.iterdir() if f.is_file() and DEVICES.split(":")[1] in f.read_text()]
    assert [f.name for f in secret] == ["devices"]
    assert stat.S_IMODE(secret[0].stat().st_mode) == 0o600
    if os.geteuid() == 0:
        assert secret[0].stat().st_uid == render.SERVICE_UID
    assert stat.S_IMODE((conf / "torrc").stat().st_mode) == 0o644
    assert (conf / "authorized_clients" / "alice.auth").read_text().startswith(
        "descriptor:x25519:")
    assert len(result.client_keys["deprecv"]["alice"].read_text().strip()) == 52
    assert doc["volumes"]["myonion-testnet-include"] == {"external": True}
    # the same container as `up` makes, but its own volumes and no adoption by `myonion ls`
    assert runtime.containers == {} and manager.store.all() == []
    # exporting again keeps the client keys
    key = result.client_keys["deprecv"]["alice"].read_text()
    deploy.export_compose(manager, deploy.load(good), out)
    assert result.client_keys["deprecv"]["alice"].read_text() == key


def test_export_refuses_references(manager: Manager, project: Path, tmp_path: Path) -> None:
    with pytest.raises(deploy.DeploymentError, match="cannot know"):
        deploy.export_compose(manager, deploy.load(gateway(project)), tmp_path / "c.yaml")


# --- systemd --------------------------------------------------------------------------------
def test_systemd_unit(good: Path) -> None:
    d = deploy.load(good)
    text = deploy.systemd_unit(d, "/opt/my onion/bin/myonion", {"MYONION_NETWORK": "local"})
    lines = text.splitlines()
    assert "Type=oneshot" in lines and "RemainAfterExit=yes" in lines
    assert "Requires=docker.service" in lines
    assert "After=docker.service network-online.target" in lines
    assert f'ExecStart="/opt/my onion/bin/myonion" up -f "{d.path}"' in lines
    assert f'ExecStop="/opt/my onion/bin/myonion" down -f "{d.path}"' in lines
    assert "Environment=MYONION_NETWORK=local" in lines
    assert "WantedBy=multi-user.target" in lines
    assert deploy.unit_name(d) == "myonion-dep.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_unit(good: Path, tmp_path: Path) -> None:
    exe = tmp_path / "myonion"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    d = deploy.load(good)
    path = deploy.install_unit(d, deploy.systemd_unit(d, str(exe), {}), tmp_path / "units")
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                            text=True)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if path.name in line or "myonion" in line]
    assert result.returncode == 0 and not problems, result.stderr
    # and it does find mistakes
    bad = path.with_name("myonion-bad.service")
    bad.write_text(path.read_text().replace("Type=oneshot", "Type=bogus"))
    result = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True,
                            text=True)
    assert "bogus" in result.stderr


@pytest.mark.parametrize(("text", "line", "words"), [
    ("version: 1\nservices:\n  a:\n    template: site: x\n    options: {}\n", 4,
     "mapping values are not allowed here"),
    ("version: 1\nservices:\n  a:\n\ttemplate: site\n", 4, "'\\t' that cannot start"),
    ("version: 1\nservices:\n  a:\n    template: site\n   options: {}\n", 5,
     "expected <block end>"),
    ("version: 1\nservices:\n  a:\n    template: site\n    - x\n", 5, "expected <block end>"),
    # found at the end of the file; where the quote was opened is named too
    ('version: 1\nservices:\n  a:\n    template: "site\n    options: {}\n', 6,
     "quoted scalar from line 4"),
], ids=["mapping-in-a-value", "tab", "indent", "list-in-a-mapping", "unclosed-quote"])
def test_cli_names_the_line_of_a_yaml_syntax_error(
        capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch,
        manager: Manager, text: str, line: int, words: str) -> None:
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    monkeypatch.chdir(project)
    (project / "bad.yaml").write_text(text)
    assert main(["up", "-f", "bad.yaml", "--dry-run"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: bad.yaml:{line}: this is not valid YAML: "), err
    assert words in err and "Traceback" not in err


def test_cli_bad_file_and_dry_run(capsys: pytest.CaptureFixture[str], project: Path,
                                  good: Path) -> None:
    bad = project / "bad.yaml"
    bad.write_text("version: 1\nservices:\n  a:\n    template: site\n    ttl: soon\n")
    assert main(["up", "-f", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"error: {bad}:5: services.a.ttl: 'soon' is not a duration" in err
    assert main(["service", "install", "-f", str(good), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[Unit]") and f'up -f "{good.resolve()}"' in out
    assert main(["export", "compose", "-f", str(bad)]) == 1


SSH_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDh9f+9Z0RZp5CkXdftX9EP3chMT8hTfhfrXT7e9ff2N "
           "me@laptop")


def test_stacks_in_compose_are_valid(tmp_path: Path) -> None:
    stacks = sorted((Path(__file__).parents[2] / "compose").glob("*/myonion.yaml"))
    assert {p.parent.name for p in stacks} >= {"share-site", "pi-iot-gateway", "home-assistant"}
    for path in stacks:
        assert (path.parent / "README.md").is_file()
        # a copy, with the files a user puts beside it (their own public key)
        copy = tmp_path / path.parent.name
        shutil.copytree(path.parent, copy)
        (copy / "authorized_keys").write_text(SSH_KEY + "\n")
        try:
            d = deploy.load(copy / "myonion.yaml")
        except MyOnionError as e:  # pragma: no cover - the message says which line
            pytest.fail(f"{path}: {e}")
        assert d.name == path.parent.name


def test_a_container_removed_behind_our_back_is_made_again(
        manager: Manager, runtime: FakeRuntime, good: Path) -> None:
    deploy.up(manager, deploy.load(good), wait=False)
    runtime.remove(container_name("depsite"))
    steps = deploy.up(manager, deploy.load(good), wait=False)
    assert (steps[0].action, steps[0].reason) == ("recreate", "its container was removed")
    assert runtime.containers[container_name("depsite")][1].running


# --- bundles --------------------------------------------------------------------------------
def test_bundle_round_trip(manager: Manager, runtime: FakeRuntime, good: Path,
                           tmp_path: Path) -> None:
    from myonion.export import bundle, bundle_make

    made = bundle_make.create_bundle(manager, deploy.load(good), tmp_path / "gw.tar")
    assert made.file == "myonion.yaml" and "myonion/base:bookworm" in made.images
    assert any(t.startswith("myonion/tor:") for t in made.images)
    assert any(t.startswith("myonion/iot-receiver:") for t in made.images)
    import tarfile

    with tarfile.open(made.path) as tar:
        assert tar.getnames() == ["SHA256SUMS", "manifest.json", "myonion.yaml", "images.tar"]
    with pytest.raises(MyOnionError, match="exists already"):
        bundle_make.create_bundle(manager, deploy.load(good), made.path)
    # a machine that has none of the images
    other = FakeRuntime()
    loaded = bundle.load_bundle(other, made.path, tmp_path / "target")
    assert set(made.images) <= other.images
    assert loaded.path.read_text() == good.read_text()


def test_a_damaged_bundle_loads_nothing(manager: Manager, runtime: FakeRuntime, good: Path,
                                        tmp_path: Path) -> None:
    import tarfile

    from myonion.export import bundle, bundle_make

    made = bundle_make.create_bundle(manager, deploy.load(good), tmp_path / "gw.tar")
    work = tmp_path / "unpacked"
    with tarfile.open(made.path) as tar:
        tar.extractall(work, filter="data")
    (work / "images.tar").write_bytes((work / "images.tar").read_bytes() + b"evil:latest\n")
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(damaged, "w") as tar:
        for name in ("SHA256SUMS", "manifest.json", "myonion.yaml", "images.tar"):
            tar.add(work / name, arcname=name)
    other = FakeRuntime()
    with pytest.raises(bundle.BundleError, match=r"checksum of images\.tar does not match"):
        bundle.load_bundle(other, damaged, tmp_path / "target")
    assert other.images == set() and not (tmp_path / "target").exists()
    # an extra file is refused too
    (work / "extra.sh").write_text("#!/bin/sh\n")
    with tarfile.open(damaged, "w") as tar:
        for name in ("SHA256SUMS", "manifest.json", "myonion.yaml", "images.tar", "extra.sh"):
            tar.add(work / name, arcname=name)
    with pytest.raises(bundle.BundleError, match=r"more than four files"):
        bundle.load_bundle(other, damaged, tmp_path / "target")
    assert other.images == set()


def test_cli_bundle_needs_an_output(capsys: pytest.CaptureFixture[str], good: Path) -> None:
    assert main(["bundle", "-f", str(good)]) == 2
    assert "-o OUT.tar" in capsys.readouterr().err


# --- the manager's part ---------------------------------------------------------------------
@pytest.mark.parametrize(("limits", "expected"), [
    ({"memory": "128M"}, {"memory": "128m"}), ({"memory": "1g", "pids": "64"},
                                               {"memory": "1g", "pids": 64}),
    ({}, {}), (None, {}),
])
def test_check_limits(limits: dict | None, expected: dict) -> None:
    from myonion.manager import check_limits

    assert check_limits(limits) == expected


@pytest.mark.parametrize(("limits", "words"), [
    ({"memory": "lots"}, "not a size"), ({"memory": "16m"}, "too small"),
    ({"memory": True}, "not a size"), ({"pids": 8}, "out of range"),
    ({"pids": True}, "not a whole number"), ({"cpus": 2}, "no limit 'cpus'"),
])
def test_check_limits_refuses(limits: dict, words: str) -> None:
    from myonion.errors import OptionError
    from myonion.manager import check_limits

    with pytest.raises(OptionError, match=words):
        check_limits(limits)


def test_take_down_and_start(manager: Manager, runtime: FakeRuntime) -> None:
    manager.share("iot-receiver", {"devices": DEVICES}, name="box", persistent=True,
                  wait=False, clients=["alice"])
    volumes = set(runtime.volumes)
    view = manager.take_down("box")
    assert view.state == "stopped" and view.stage == "down" and runtime.containers == {}
    assert set(runtime.volumes) == volumes and manager.clients("box")
    assert [v.name for v in manager.list()] == ["box"]
    manager.start("box", wait=False)
    assert runtime.containers[container_name("box")][1].running
    with pytest.raises(MyOnionError, match="gone"):  # removed behind our back: not "down"
        runtime.remove(container_name("box"))
        manager.start("box", wait=False)


def test_reconfigure_to_another_template_drops_its_data(manager: Manager,
                                                        runtime: FakeRuntime) -> None:
    manager.share("iot-receiver", {"devices": DEVICES}, name="box", persistent=True,
                  wait=False)
    assert {"myonion-box-data", "myonion-box-tor"} <= set(runtime.volumes)
    view = manager.reconfigure("box", "site", {}, persistent=True, wait=False)
    assert view.template == "site" and view.state == "running"
    assert "myonion-box-data" not in runtime.volumes and "myonion-box-tor" in runtime.volumes
    with pytest.raises(MyOnionError, match="no option 'devices'"):
        manager.reconfigure("box", "site", {"devices": DEVICES}, wait=False)
    assert manager.status("box").template == "site"  # nothing changed


def test_an_edited_file_option_recreates_the_service(manager: Manager, runtime: FakeRuntime,
                                                     project: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def public_key() -> str:
        return Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()

    keys_file = project / "authorized_keys"
    keys_file.write_text(public_key() + " me@laptop\n")
    path = write(project, "version: 1\nservices:\n  depshell:\n    template: ssh\n"
                 "    options: {authorized_keys_file: ./authorized_keys}\n")
    deploy.up(manager, deploy.load(path), wait=False)
    assert [s.action for s in deploy.up(manager, deploy.load(path), wait=False)] == [
        "unchanged"]
    keys_file.write_text(keys_file.read_text() + public_key() + " other@phone\n")
    steps = deploy.up(manager, deploy.load(path), wait=False)
    assert [(s.action, s.reason) for s in steps] == [
        ("recreate", "changed: the files its options name")]
    conf = manager.store.service_dir("depshell") / "conf" / "authorized_keys"
    assert "other@phone" in conf.read_text()


def test_plan_changes_nothing(manager: Manager, runtime: FakeRuntime, good: Path,
                              project: Path) -> None:
    assert [(s.service, s.action) for s in deploy.plan(manager, deploy.load(good))] == [
        ("depsite", "create"), ("deprecv", "create")]
    assert runtime.containers == {} and manager.store.all() == []
    deploy.up(manager, deploy.load(good), wait=False)
    before = ids(runtime)
    good.write_text(good.read_text().replace("pids: 64", "pids: 96"))
    steps = deploy.plan(manager, deploy.load(good))
    assert [(s.action, s.reason) for s in steps] == [("unchanged", ""),
                                                     ("recreate", "changed: limits")]
    assert ids(runtime) == before
    assert runtime.containers[container_name("deprecv")][0].pids_limit == 64
    # a service naming the address of one that is not there yet
    deploy.down(manager, good, purge=True)
    other = project / "other"
    other.mkdir()
    steps = deploy.plan(manager, deploy.load(gateway(other)))
    assert [(s.service, s.action) for s in steps] == [("deprecv", "create"),
                                                      ("depgw", "create")]


def test_cli_up_dry_run(capsys: pytest.CaptureFixture[str], good: Path,
                        monkeypatch: pytest.MonkeyPatch, manager: Manager) -> None:
    from myonion import cli

    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    assert main(["up", "-f", str(good), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == ["depsite: create", "deprecv: create"]
    assert manager.store.all() == []


def test_base_image_per_architecture(runtime: FakeRuntime,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from myonion import arch
    from myonion.build import images

    monkeypatch.setattr(arch.platform, "machine", lambda: "aarch64")
    assert images.architecture() == "arm64"
    monkeypatch.setenv("MYONION_BASE_IMAGE", "debian:bookworm-slim")
    assert images.base_image(runtime) == "debian:bookworm-slim"
    monkeypatch.setenv("MYONION_BASE_IMAGE_ARM64", "arm64v8/debian:bookworm-slim")
    assert images.base_image(runtime) == "arm64v8/debian:bookworm-slim"
    monkeypatch.setattr(arch.platform, "machine", lambda: "x86_64")
    assert images.base_image(runtime) == "debian:bookworm-slim"


def test_a_bundle_of_another_architecture_is_refused(
        manager: Manager, runtime: FakeRuntime, good: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from myonion import arch
    from myonion.export import bundle, bundle_make

    made = bundle_make.create_bundle(manager, deploy.load(good), tmp_path / "gw.tar")
    monkeypatch.setattr(arch, "host", lambda: "riscv64")
    other = FakeRuntime()
    with pytest.raises(bundle.BundleError, match=r"holds images for .*; this machine is riscv64"):
        bundle.load_bundle(other, made.path, tmp_path / "target")
    assert other.images == set()


def test_two_files_with_one_name_do_not_take_each_other_over(
        manager: Manager, runtime: FakeRuntime, good: Path, tmp_path: Path) -> None:
    deploy.up(manager, deploy.load(good), wait=False)
    copy = tmp_path / "copy"
    shutil.copytree(good.parent, copy)
    before = ids(runtime)
    with pytest.raises(deploy.DeploymentError, match=r"is up from .* already"):
        deploy.up(manager, deploy.load(copy / "myonion.yaml"), wait=False)
    with pytest.raises(deploy.DeploymentError, match=r"is up from .* already"):
        deploy.down(manager, copy / "myonion.yaml", purge=True)
    assert ids(runtime) == before
    # once the first is purged (or its file is gone), the name is free
    deploy.down(manager, good, purge=True)
    assert [s.action for s in deploy.up(manager, deploy.load(copy / "myonion.yaml"),
                                        wait=False)] == ["create", "create"]
    good.unlink()
    assert deploy.plan(manager, deploy.load(copy / "myonion.yaml"))
