"""The Docker Swarm stack export (`myonion export compose --swarm`) on the fake runtime."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from myonion import deploy, errors
from myonion.cli import main
from myonion.export import swarm as stack
from myonion.manager import Manager
from myonion.runtime.base import LABEL_HOME, LABEL_ROLE, ContainerSpec, Mount
from myonion.runtime.fake import FakeRuntime
from myonion.testnet import NETWORK, Testnet
from tests.fakes import FakeTestnet


def spec(tmp_path: Path, **changes: object) -> ContainerSpec:
    values: dict[str, object] = dict(
        name="myonion-blog", image="myonion/site:abc",
        labels={"org.myonion.service": "blog", LABEL_ROLE: "service", LABEL_HOME: "h"},
        user="10001:10001",
        mounts=[Mount(str(tmp_path / "myonion/blog/conf"), "/etc/myonion", read_only=True),
                Mount(str(tmp_path / "myonion/blog/ctl"), "/run/myonion/ctl"),
                Mount(str(tmp_path / "site"), "/srv/site", read_only=True),
                Mount("swnet-include", "/etc/tor/torrc.d", read_only=True, volume=True)],
        tmpfs={"/tmp": "rw,nosuid,nodev,size=64m",
               "/var/lib/tor": "rw,nosuid,nodev,size=32m,uid=10001,gid=10001,mode=0700"},
        network="swnet", cap_add=["NET_BIND_SERVICE"], mem_limit="128m", pids_limit=64,
        restart="unless-stopped", hostname="blog",
        healthcheck={"test": ["CMD", "true"], "interval": "30s", "retries": 3})
    values.update(changes)
    return ContainerSpec(**values)  # type: ignore[arg-type]


def test_a_container_spec_becomes_a_swarm_service(tmp_path: Path) -> None:
    configs = [stack.ConfFile("myonion-0123", "./myonion/blog/conf/torrc",
                              "/etc/myonion/torrc"),
               stack.ConfFile("myonion-4567", "./myonion/blog/conf/tokens",
                              "/etc/myonion/tokens", secret=True)]
    service = stack.stack_service("blog", spec(tmp_path), tmp_path, configs)
    assert service["image"] == "myonion/site:abc" and service["user"] == "10001:10001"
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert service["cap_add"] == ["NET_BIND_SERVICE"] and service["hostname"] == "blog"
    # what a swarm ignores is not written (it would look like it applies)
    for ignored in ("container_name", "restart", "security_opt", "mem_limit", "pids_limit",
                    "tmpfs"):
        assert ignored not in service
    assert service["deploy"]["restart_policy"] == {"condition": "any"}
    assert service["deploy"]["resources"] == {"limits": {"memory": "128M", "pids": 64}}
    assert service["deploy"]["update_config"]["order"] == "stop-first"
    assert service["volumes"] == [
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 * 1024**2}},
        # a tmpfs with an owner cannot be one in a swarm: an anonymous volume, filled from
        # the image with its owner
        {"type": "volume", "target": "/var/lib/tor"},
        {"type": "volume", "target": "/run/myonion/ctl"},
        {"type": "bind", "source": "./site", "target": "/srv/site", "read_only": True},
        {"type": "volume", "source": "swnet-include", "target": "/etc/tor/torrc.d",
         "read_only": True}]
    # the configuration comes as swarm configs, not as a bind of a folder
    assert service["configs"] == [{"source": "myonion-0123", "target": "/etc/myonion/torrc",
                                   "uid": "10001", "gid": "10001", "mode": 0o444}]
    # a file with a secret option in it: a swarm secret, the service user's alone
    assert service["secrets"] == [{"source": "myonion-4567", "target": "/etc/myonion/tokens",
                                   "uid": "10001", "gid": "10001", "mode": 0o400}]
    assert service["networks"] == ["swnet"]
    assert service["healthcheck"] == {"test": ["CMD", "true"], "interval": "30s", "retries": 3}
    assert LABEL_ROLE not in service["labels"] and LABEL_HOME not in service["labels"]
    assert service["labels"]["org.myonion.export"] == "swarm"
    doc = stack.stack_document({"blog": spec(tmp_path)}, tmp_path, {"blog": configs},
                               {"swnet-include"})
    assert doc["version"] == "3.9"
    assert doc["volumes"] == {"swnet-include": {"external": True}}
    assert doc["networks"] == {"swnet": {"external": True}}
    assert doc["configs"] == {"myonion-0123": {"file": "./myonion/blog/conf/torrc"}}
    assert doc["secrets"] == {"myonion-4567": {"file": "./myonion/blog/conf/tokens"}}


def test_ports_a_swarm_can_and_cannot_publish(tmp_path: Path) -> None:
    lan = stack.stack_service("b", spec(tmp_path, ports={"1883/tcp": ("0.0.0.0", 1883)}),
                              tmp_path, [])
    assert lan["ports"] == [{"target": 1883, "published": 1883, "protocol": "tcp",
                             "mode": "host"}]
    with pytest.raises(stack.StackRefused, match=r"127\.0\.0\.1 only"):
        stack.stack_service("b", spec(tmp_path, ports={"1883/tcp": ("127.0.0.1", 1883)}),
                            tmp_path, [])


def test_config_names_follow_the_content() -> None:
    a = stack.config_name("torrc", "one")
    assert a == stack.config_name("torrc", "one") and len(a) <= 24
    assert a != stack.config_name("torrc", "two") and a != stack.config_name("other", "one")
    assert stack.tmpfs_size("rw,size=32m,mode=0700") == 32 * 1024**2
    assert stack.tmpfs_size("rw,size=512k") == 512 * 1024 and stack.tmpfs_size("rw") is None


@pytest.fixture
def swarm_manager(runtime: FakeRuntime, testnet: FakeTestnet) -> Manager:
    testnet.network, testnet.include_volume = "swnet", "swnet-include"
    setattr(testnet, "swarm", True)  # noqa: B010 (the fake has no such field)
    from myonion.services.store import StateStore
    return Manager(runtime=runtime, store=StateStore(), testnet=testnet)


def write(folder: Path, text: str) -> Path:
    (folder / "site").mkdir(parents=True, exist_ok=True)
    (folder / "site" / "index.html").write_text("hello")
    path = folder / "myonion.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_export_for_a_swarm(swarm_manager: Manager, tmp_path: Path) -> None:
    path = write(tmp_path / "project", """\
        version: 1
        name: swdep
        services:
          swsite:
            template: site
            options: {dir: ./site}
          swkept:
            template: site
            persistent: true
            options: {dir: ./site}
            clients: [alice]
        """)
    out = tmp_path / "export" / "stack.yaml"
    result = deploy.export_compose(swarm_manager, deploy.load(path), out, swarm=True)
    text = out.read_text()
    assert "docker stack deploy -c stack.yaml swdep" in text
    doc = yaml.safe_load(text)
    kept = doc["services"]["swkept"]
    assert {"type": "volume", "source": "myonion-swkept-tor", "target": "/var/lib/tor"} in \
        kept["volumes"]
    assert {"type": "volume", "target": "/var/lib/tor"} in doc["services"]["swsite"]["volumes"]
    targets = {c["target"] for c in kept["configs"]}
    assert targets == {"/etc/myonion/torrc", "/etc/myonion/nginx.conf",
                       "/etc/myonion/authorized_clients/alice.auth"}
    for config in doc["configs"].values():  # every config names a file that is there
        assert (out.parent / config["file"]).is_file()
    assert doc["volumes"]["swnet-include"] == {"external": True}
    assert doc["networks"] == {"swnet": {"external": True}}
    assert result.client_keys["swkept"]["alice"].is_file()
    assert "secrets" not in doc  # no secret option here


def test_files_with_secret_options_become_swarm_secrets(swarm_manager: Manager,
                                                        runtime: FakeRuntime,
                                                        tmp_path: Path) -> None:
    path = write(tmp_path / "project", f"""\
        version: 1
        services:
          swrecv:
            template: iot-receiver
            options: {{devices: "kitchen:{TOKEN}"}}
        """)
    out = tmp_path / "export" / "stack.yaml"
    deploy.export_compose(swarm_manager, deploy.load(path), out, swarm=True)
    doc = yaml.safe_load(out.read_text())
    service = doc["services"]["swrecv"]
    assert [s["target"] for s in service["secrets"]] == ["/etc/myonion/devices"]
    # the service's: tor needs none of them
    assert all(s["mode"] == 0o400 and s["uid"] == "10002" for s in service["secrets"])
    assert "/etc/myonion/devices" not in [c["target"] for c in service["configs"]]
    (secret,) = doc["secrets"].values()
    devices = out.parent / secret["file"]
    assert TOKEN in devices.read_text() and devices.stat().st_mode & 0o777 == 0o600
    # left this user's (not handed to the container's user): `docker stack deploy` reads it
    assert devices.stat().st_uid == os.getuid()
    assert not [t for t in runtime.tasks if "chown" in " ".join(map(str, t))]


TOKEN = "kitchen-token-0123456789"


def test_swarm_export_refusals(runtime: FakeRuntime, swarm_manager: Manager,
                               tmp_path: Path) -> None:
    from myonion.services.store import StateStore

    manager = Manager(runtime=runtime, store=StateStore(), testnet=FakeTestnet())
    path = write(tmp_path / "a", """\
        version: 1
        services:
          swsite:
            template: site
            options: {dir: ./site}
        """)
    # the default test network is a bridge, which no swarm service can join
    with pytest.raises(deploy.DeploymentError) as caught:
        deploy.export_compose(manager, deploy.load(path), tmp_path / "s.yaml", swarm=True)
    assert f"{path}:3: services.swsite.network: is the local test network" in str(caught.value)
    assert "myonion testnet up --name NAME --swarm" in str(caught.value)
    # a port published on the internal test network's access bridge
    bridge = write(tmp_path / "b", f"""\
        version: 1
        services:
          swgw:
            template: mqtt-bridge
            options:
              routes: "kitchen http://{'a' * 55}d.onion/api/v1/readings/kitchen {TOKEN}"
              lan_users: "sensors:correct-horse-battery"
              lan_port: 1883
        """)
    with pytest.raises(deploy.DeploymentError, match=r"b/myonion.yaml:3: services.swgw: "
                       "publishes a port"):
        deploy.export_compose(swarm_manager, deploy.load(bridge), tmp_path / "s.yaml",
                              swarm=True)
    assert not (tmp_path / "s.yaml").exists()


def test_the_default_test_network_cannot_be_a_swarm_one(runtime: FakeRuntime) -> None:
    with pytest.raises(errors.TestnetError, match="cannot be a swarm network"):
        Testnet(runtime, name=NETWORK, swarm=True)
    assert Testnet(runtime, name="swnet", swarm=True).swarm


def test_cli_swarm_export_needs_a_swarm_test_network(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nservices:\n  swsite:\n    template: site\n"
                 "    options: {dir: ./site}\n")
    assert main(["export", "compose", "--swarm", "-f", str(path), "-o",
                 str(tmp_path / "s.yaml")]) == 1
    assert "services.swsite.network" in capsys.readouterr().err


def docker_reads(stack_file: Path, tmp_path: Path) -> list[str]:
    """What `docker stack deploy` says of a stack file when no engine answers: it loads and
    checks the whole file (the compose schema, every value decoded into Docker's types) before
    it connects, so a good file ends at "Cannot connect to the Docker daemon" and a bad one
    at its first mistake. Works with Debian's docker 20.10 (which has no `stack config`)
    as with newer ones; nothing is ever deployed (the socket does not exist)."""
    docker = shutil.which("docker")
    if docker is None:  # under CI a skip fails the run: setup-host.sh installs docker.io
        pytest.skip("no docker command here")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DOCKER_CONFIG": str(tmp_path / "docker-config"),
           "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    run = subprocess.run([docker, "stack", "deploy", "-c", str(stack_file), "swcheck"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode != 0
    notices = ("Since --detach=false", "In a future release")  # newer CLIs say these first
    return [line for line in (run.stdout + run.stderr).splitlines()
            if line.strip() and not line.startswith(notices)]


NO_ENGINE = "Cannot connect to the Docker daemon"


def test_docker_reads_the_stack_file(swarm_manager: Manager, tmp_path: Path) -> None:
    """The docker command (the CLI alone, no engine) accepts every field written."""
    path = write(tmp_path / "p", """\
        version: 1
        services:
          swsite:
            template: site
            options: {dir: ./site}
            limits: {memory: 64m, pids: 32}
          recv:
            template: iot-receiver
            options: {devices: "kitchen:Ax7oL2q9Vd3mKp8sTw4n"}
        """)
    out = tmp_path / "stack.yaml"
    deploy.export_compose(swarm_manager, deploy.load(path), out, swarm=True)
    said = docker_reads(out, tmp_path)
    assert len(said) == 1 and said[0].startswith(NO_ENGINE), said
    # and it does find mistakes: a field it does not know, a value it cannot decode
    doc = yaml.safe_load(out.read_text())
    assert doc["services"]["swsite"]["deploy"]["resources"]["limits"]["pids"] == 32
    for field, value, words in (("pidz", 32, "pidz"), ("memory", "lots", "invalid size")):
        bad = yaml.safe_load(out.read_text())
        bad["services"]["swsite"]["deploy"]["resources"]["limits"][field] = value
        broken = tmp_path / f"bad-{field}.yaml"
        broken.write_text(yaml.safe_dump(bad))
        said = docker_reads(broken, tmp_path)
        assert not any(NO_ENGINE in line for line in said), said
        assert any(words in line for line in said), said


def test_a_swarm_test_network_needs_a_swarm(runtime: FakeRuntime,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> None:
        raise errors.RuntimeFailure("Docker refused to create network swnet: cannot create a "
                                    "swarm scoped network when swarm is not active.")

    monkeypatch.setattr(runtime, "create_network", refuse)
    with pytest.raises(errors.TestnetError) as caught:
        Testnet(runtime, name="swnet", swarm=True).up()
    assert "swarm is not active" in str(caught.value)
    assert caught.value.hint is not None and "docker swarm init" in caught.value.hint
