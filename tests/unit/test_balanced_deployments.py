"""Balanced services in deployment files (`balance: {backends: N}`) on the fake runtime: the
schema and its mistakes, up / up again / more backends / down / up / down --purge, `ps`, the
master address for `${NAME.address}`, and what export refuses."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from myonion import cli, deploy, keys
from myonion.cli import main
from myonion.deploy import balance
from myonion.manager import Manager, container_name
from myonion.runtime.fake import FakeRuntime


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "stack"
    (folder / "site").mkdir(parents=True)
    (folder / "site" / "index.html").write_text("hello")
    return folder


def write(folder: Path, text: str) -> Path:
    path = folder / "myonion.yaml"
    path.write_text(textwrap.dedent(text))
    return path


TOKEN = "kitchen-token-0123456789"


def balanced(folder: Path, backends: int = 2) -> Path:
    return write(folder, f"""\
        version: 1
        name: lbdep
        services:
          web:
            template: site
            options:
              dir: ./site
            balance:
              backends: {backends}
            limits: {{memory: 96m}}
          recv:
            template: mqtt-bridge
            options:
              routes: "kitchen http://${{web.address}}/api/v1/readings/kitchen {TOKEN}"
              lan_users: "sensors:correct-horse-battery"
        """)


def test_a_balanced_service_is_its_backends_and_a_frontend(project: Path) -> None:
    d = deploy.load(balanced(project))
    web = d.services[0]
    assert web.backends == 2 and web.persistent  # its master address is kept
    expanded = {s.name: s for s in d.expanded()}
    assert list(expanded) == ["web-b1", "web-b2", "web", "recv"]
    for name in ("web-b1", "web-b2"):
        backend = expanded[name]
        assert backend.template == "site" and backend.balance_of == "web"
        assert backend.persistent and backend.limits == {"memory": "96m"}
        assert backend.given["dir"] == str(project / "site")
    front = expanded["web"]
    assert front.frontend and front.template == "onionbalance" and front.limits == {}
    assert front.given == {"instances": "${web-b1.address} ${web-b2.address}"}
    # the backends first, then the frontend, then what names the master address
    assert [s.name for s in d.ordered()] == ["web-b1", "web-b2", "web", "recv"]


@pytest.mark.parametrize(("service", "line", "field", "message"), [
    ("balance: {backends: 0}", 6, "services.web.balance.backends",
     "must be a number of backends from 1 to 8, not '0'"),
    ("balance: {backends: two}", 6, "services.web.balance.backends", "not 'two'"),
    ("balance: {}", 6, "services.web.balance.backends", "is missing"),
    ("balance: 2", 6, "services.web.balance", "must be a mapping"),
    ("balance: {backends: 2, nodes: 3}", 6, "services.web.balance.nodes",
     "is not a field here (fields: backends, remote, master)"),
    ("balance: {backends: 2}\n    clients: [alice]", 7, "services.web.clients",
     "cannot be combined with balance"),
    ("balance: {backends: 2}\n    ttl: 2h", 7, "services.web.ttl",
     "cannot be combined with balance"),
    ("balance: {backends: 2}\n    persistent: false", 7, "services.web.persistent",
     "cannot be false for a balanced service"),
])
def test_balance_mistakes_name_file_line_and_field(project: Path, service: str, line: int,
                                                   field: str, message: str) -> None:
    path = project / "myonion.yaml"
    path.write_text("version: 1\nservices:\n  web:\n    template: site\n"
                    f"    options: {{dir: ./site}}\n    {service}\n")
    with pytest.raises(deploy.DeploymentError) as caught:
        deploy.load(path)
    assert f"{path}:{line}: {field}: " in str(caught.value)
    assert message in str(caught.value)


def test_balance_needs_a_web_template_and_free_backend_names(project: Path) -> None:
    path = write(project, """\
        version: 1
        services:
          shell:
            template: ssh
            options: {authorized_keys: "${KEY}"}
            balance: {backends: 2}
          web:
            template: site
            balance: {backends: 2}
          web-b2:
            template: site
          a-rather-long-service-name-of-38-chars:
            template: site
            balance: {backends: 8}
        """)
    with pytest.raises(deploy.DeploymentError) as caught:
        deploy.load(path)
    text = str(caught.value)
    assert f"{path}:4: services.shell.template: 'ssh' does not serve a web page on port 80" \
        in text
    assert f"{path}:9: services.web.balance: its backend 'web-b2' has the name of another " \
        "service" in text
    assert f"{path}:12: services.a-rather-long-service-name-of-38-chars: is too long a name " \
        "for balanced backends" in text


def test_up_makes_backends_and_a_frontend_and_is_idempotent(
        manager: Manager, runtime: FakeRuntime, project: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.common, "manager", lambda reporter=None: manager)
    path = balanced(project)
    steps = deploy.up(manager, deploy.load(path), wait=False)
    assert [(s.service, s.action) for s in steps] == [
        ("web-b1", "create"), ("web-b2", "create"), ("web", "create"), ("recv", "create")]
    front = manager.store.get("web")
    b1, b2 = manager.store.get("web-b1"), manager.store.get("web-b2")
    assert front is not None and b1 is not None and b2 is not None
    master = front.address
    assert master and front.template == "onionbalance" and front.mode == "persistent"
    assert b1.balance_master == master and b2.balance_master == master
    assert front.options["instances"] == f"{b1.address} {b2.address}"
    assert b1.limits == {"memory": "96m"} and front.limits == {}
    assert {r.deployment for r in (front, b1, b2)} == {"lbdep"}
    # ${web.address} is the master address
    recv = manager.store.get("recv")
    assert recv is not None and f"http://{master}/api" in recv.options["routes"]

    # up again: nothing changes
    ids = {n: i.id for n, (_, i) in runtime.containers.items()}
    steps = deploy.up(manager, deploy.load(path), wait=False)
    assert [s.action for s in steps] == ["unchanged"] * 4
    assert {n: i.id for n, (_, i) in runtime.containers.items()} == ids
    assert [s.action for s in deploy.plan(manager, deploy.load(path))] == ["unchanged"] * 4

    # ps shows the backends as parts of the balanced service
    rows = {r.service: r for r in deploy.ps(manager, path)}
    assert list(rows) == ["web", "web-b1", "web-b2", "recv"]
    assert rows["web-b1"].backend_of == "web" and rows["web"].backend_of is None
    assert all(r.in_file for r in rows.values())
    assert main(["ps", "-f", str(path)]) == 0
    assert "web-b1 (backend of web)" in capsys.readouterr().out

    # a third backend: made, the frontend lists it (same master address), the rest stays
    more = balanced(project, backends=3)
    steps = deploy.up(manager, deploy.load(more), wait=False)
    assert [(s.service, s.action) for s in steps] == [
        ("web-b1", "unchanged"), ("web-b2", "unchanged"), ("web-b3", "create"),
        ("web", "recreate"), ("recv", "unchanged")]
    assert "options instances" in steps[3].reason
    front = manager.store.get("web")
    b3 = manager.store.get("web-b3")
    assert front is not None and b3 is not None and front.address == master
    assert front.options["instances"].split() == [b1.address, b2.address, b3.address]
    assert b3.balance_master == master

    # down keeps the keys: up brings the same master address back
    assert sorted(deploy.down(manager, more)) == ["recv", "web", "web-b1", "web-b2", "web-b3"]
    assert runtime.containers == {}
    assert [s.action for s in deploy.up(manager, deploy.load(more), wait=False)] == \
        ["start"] * 5
    assert manager.address("web") == master

    # down --purge: nothing left; the next up makes a new master address
    deploy.down(manager, more, purge=True)
    assert manager.store.all() == [] and runtime.containers == {}
    deploy.up(manager, deploy.load(more), wait=False)
    assert manager.address("web") != master


def test_a_backend_of_another_master_is_made_anew(manager: Manager, project: Path) -> None:
    path = balanced(project)
    deploy.up(manager, deploy.load(path), wait=False)
    old_b1 = manager.address("web-b1")
    manager.remove("web", purge=True)  # the frontend and its master key are gone
    steps = deploy.plan(manager, deploy.load(path))
    assert [(s.service, s.action) for s in steps][:3] == [
        ("web-b1", "recreate"), ("web-b2", "recreate"), ("web", "create")]
    assert "not a backend of web's master address" in steps[0].reason
    deploy.up(manager, deploy.load(path), wait=False)
    front = manager.store.get("web")
    b1 = manager.store.get("web-b1")
    assert front is not None and b1 is not None
    assert b1.balance_master == front.address and b1.address != old_b1


def test_a_service_made_balanced_is_made_anew(manager: Manager, runtime: FakeRuntime,
                                              project: Path) -> None:
    path = write(project, "version: 1\nname: lbdep\nservices:\n  web:\n    template: site\n"
                 "    options: {dir: ./site}\n")
    deploy.up(manager, deploy.load(path), wait=False)
    steps = deploy.up(manager, deploy.load(balanced(project)), wait=False)
    assert [(s.service, s.action) for s in steps][:3] == [
        ("web-b1", "create"), ("web-b2", "create"), ("web", "recreate")]
    front = manager.store.get("web")
    assert front is not None and front.template == "onionbalance"
    assert runtime.get(container_name("web")) is not None


def test_export_refuses_a_balanced_service(manager: Manager, project: Path,
                                           tmp_path: Path) -> None:
    path = balanced(project)
    with pytest.raises(deploy.DeploymentError, match=r"services\.web\.balance: is not "
                       "exported"):
        deploy.export_compose(manager, deploy.load(path), tmp_path / "c.yaml")


# --- backends on several machines ------------------------------------------------------------
ELSEWHERE = keys.generate_onion_key().address
OTHER = keys.generate_onion_key().address


def test_backends_elsewhere_and_a_backend_of_a_frontend_elsewhere(
        manager: Manager, project: Path) -> None:
    front = write(project, f"""\
        version: 1
        name: lbfront
        services:
          web:
            template: site
            options: {{dir: ./site}}
            balance: {{backends: 1, remote: [{ELSEWHERE.upper()}]}}
        """)
    d = deploy.load(front)
    assert [(s.name, s.frontend) for s in d.expanded()] == [("web-b1", False), ("web", True)]
    assert d.expanded()[1].given == {"instances": f"${{web-b1.address}} {ELSEWHERE}"}
    deploy.up(manager, d, wait=False)
    record = manager.store.get("web")
    assert record is not None
    assert record.options["instances"] == f"{manager.address('web-b1')} {ELSEWHERE}"
    view = balance.status(manager, "web")
    assert [(b.name, b.address) for b in view.backends] == [
        ("web-b1", manager.address("web-b1")), (balance.REMOTE, ELSEWHERE)]
    # only remote backends: this machine runs the frontend alone
    (project / "frontend-only").mkdir()
    only = write(project / "frontend-only", f"""\
        version: 1
        services:
          web:
            template: site
            balance: {{remote: [{ELSEWHERE}, {OTHER}]}}
        """)
    assert [(s.name, s.template, s.given) for s in deploy.load(only).expanded()] == [
        ("web", "onionbalance", {"instances": f"{ELSEWHERE} {OTHER}"})]


def test_a_backend_of_a_master_elsewhere(manager: Manager, project: Path) -> None:
    path = write(project, f"""\
        version: 1
        name: lbnode
        services:
          webnode:
            template: site
            options: {{dir: ./site}}
            balance: {{master: {ELSEWHERE}}}
          recv:
            template: mqtt-bridge
            options:
              routes: "kitchen http://${{webnode.address}}/api/v1/readings/kitchen {TOKEN}"
              lan_users: "sensors:correct-horse-battery"
        """)
    d = deploy.load(path)
    assert next((s.name, s.master, s.persistent) for s in d.expanded()) == \
        ("webnode", ELSEWHERE, True)
    assert [s.action for s in deploy.up(manager, d, wait=False)] == ["create", "create"]
    record = manager.store.get("webnode")
    assert record is not None and record.balance_master == ELSEWHERE
    assert record.address and record.address != ELSEWHERE
    recv = manager.store.get("recv")  # ${webnode.address}: what clients use, the master's
    assert recv is not None and f"http://{ELSEWHERE}/api" in recv.options["routes"]
    assert [s.action for s in deploy.up(manager, d, wait=False)] == ["unchanged"] * 2
    # another master: made anew (a backend cannot change the master it names)
    path.write_text(path.read_text().replace(ELSEWHERE, OTHER))
    steps = deploy.up(manager, deploy.load(path), wait=False)
    assert steps[0].action == "recreate" and steps[0].replace
    record = manager.store.get("webnode")
    assert record is not None and record.balance_master == OTHER


@pytest.mark.parametrize(("balance_text", "field", "message"), [
    (f"{{master: {ELSEWHERE}, backends: 2}}", "services.web.balance.backends",
     "cannot be combined with master"),
    ("{master: example.onion}", "services.web.balance.master",
     "'example.onion' is not a v3 onion address"),
    (f"{{remote: {ELSEWHERE}}}", "services.web.balance.remote", "must be a list"),
    ("{remote: [nope]}", "services.web.balance.remote[0]", "'nope' is not a v3 onion"),
    (f"{{remote: [{ELSEWHERE}, {ELSEWHERE}]}}", "services.web.balance.remote[1]",
     "is named twice"),
    (f"{{backends: 8, remote: [{ELSEWHERE}]}}", "services.web.balance",
     "has 9 backends (here and remote): Onionbalance takes at most 8"),
    ("{backends: 0}", "services.web.balance.backends", "from 1 to 8, not '0'"),
])
def test_remote_and_master_mistakes(project: Path, balance_text: str, field: str,
                                    message: str) -> None:
    path = project / "myonion.yaml"
    path.write_text("version: 1\nservices:\n  web:\n    template: site\n"
                    f"    options: {{dir: ./site}}\n    balance: {balance_text}\n")
    with pytest.raises(deploy.DeploymentError) as caught:
        deploy.load(path)
    assert f"{path}:6: {field}: " in str(caught.value) and message in str(caught.value)
