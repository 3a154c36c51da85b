"""The Runtime protocol's contract, written once and held by the fake and the real engine alike.

Each test runs twice (see conftest.py): on FakeRuntime, and on DockerRuntime against the real
engine (marked integration). A difference between the two is a bug of the fake (unit tests
would trust behaviour Docker does not have) or of the Docker runtime (an engine error escaping
as something other than a MyOnionError).

The fake runs no programs; it answers the few commands this suite uses (``true``, ``false``,
``id -u``, ``id -g``, ``cat FILE``, ``echo``) as a container would, and every other command with
status 0 and no output (see myonion/runtime/fake.py).
"""

from __future__ import annotations

import pytest

from myonion.errors import MyOnionError, RuntimeFailure
from myonion.runtime.base import LABEL_ROLE, ContainerInfo, ContainerSpec, Mount
from tests.contract.conftest import IMAGE, Engine

#: a container that runs until stopped and exits 0 on SIGTERM (sleep as PID 1 would not)
RUN_UNTIL_STOPPED = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


def make(engine: Engine, what: str, labels: dict[str, str] | None = None,
         mounts: list[Mount] | None = None, image: str = IMAGE,
         read_only: bool = True) -> ContainerInfo:
    name = engine.name(what)
    engine.containers.append(name)
    spec = ContainerSpec(name=name, image=image, command=RUN_UNTIL_STOPPED,
                         labels={LABEL_ROLE: "contract", **engine.label, **(labels or {})},
                         mounts=mounts or [], mem_limit="64m", read_only=read_only)
    return engine.runtime.create(spec)


def volume(engine: Engine, what: str) -> str:
    name = engine.name(what)
    engine.volumes.append(name)
    engine.runtime.create_volume(name, engine.label)
    return name


# --- the engine ------------------------------------------------------------------------------


def test_ping_and_free_space(engine: Engine) -> None:
    engine.runtime.ping()
    free = engine.runtime.free_space()
    assert free is None or (isinstance(free, int) and free > 0)


# --- containers ------------------------------------------------------------------------------


def test_create_start_stop_remove(engine: Engine) -> None:
    runtime = engine.runtime
    info = make(engine, "life", labels={"org.myonion.contract.extra": "yes"})
    assert info.name == engine.name("life")
    assert info.status == "created" and not info.running
    assert info.image == IMAGE
    assert info.labels["org.myonion.contract.extra"] == "yes"
    runtime.start(info.name)
    got = runtime.get(info.name)
    assert got is not None and got.running and got.status == "running"
    assert got.id == info.id
    runtime.stop(info.name, timeout=5)
    got = runtime.get(info.name)
    assert got is not None and got.status == "exited" and got.exit_code == 0
    runtime.start(info.name)  # a stopped container starts again
    assert (runtime.get(info.name) or info).running
    runtime.remove(info.name)  # running: removed all the same
    assert runtime.get(info.name) is None
    runtime.remove(info.name)  # and again: nothing to do, no error


def test_kill_ends_with_137(engine: Engine) -> None:
    info = make(engine, "kill")
    engine.runtime.start(info.name)
    engine.runtime.kill(info.name)
    got = engine.runtime.get(info.name)
    assert got is not None and got.status == "exited" and got.exit_code == 137
    with pytest.raises(RuntimeFailure):  # it is not running any more
        engine.runtime.kill(info.name)


def test_stopping_a_container_that_never_ran_leaves_it_created(engine: Engine) -> None:
    info = make(engine, "never")
    engine.runtime.stop(info.name, timeout=1)
    got = engine.runtime.get(info.name)
    assert got is not None and got.status == "created" and not got.running


def test_a_name_is_taken_once(engine: Engine) -> None:
    make(engine, "twice")
    with pytest.raises(RuntimeFailure):
        make(engine, "twice")


def test_a_missing_image_is_refused(engine: Engine) -> None:
    with pytest.raises(RuntimeFailure):
        make(engine, "noimage", image=f"myonion/{engine.prefix}-none:1")
    assert engine.runtime.get(engine.name("noimage")) is None


def test_missing_containers(engine: Engine) -> None:
    runtime, name = engine.runtime, engine.name("missing")
    assert runtime.get(name) is None
    runtime.remove(name)
    for action in (lambda: runtime.start(name), lambda: runtime.stop(name),
                   lambda: runtime.kill(name), lambda: runtime.exec(name, ["true"]),
                   lambda: list(runtime.logs(name)),
                   lambda: runtime.put_files(name, {"/tmp/x": (b"x", 0o644)}, "0:0")):
        with pytest.raises(RuntimeFailure):
            action()


def test_list_by_labels(engine: Engine) -> None:
    key = "org.myonion.contract.colour"
    red = make(engine, "red", labels={key: "red"})
    blue = make(engine, "blue", labels={key: "blue"})
    make(engine, "plain")
    listed = engine.runtime.list_containers({**engine.label, key: ""})  # "": any value
    assert sorted(c.name for c in listed) == sorted([red.name, blue.name])
    only = engine.runtime.list_containers({**engine.label, key: "red"})
    assert [c.name for c in only] == [red.name]
    assert only[0].labels[key] == "red"
    assert len(engine.runtime.list_containers(engine.label)) == 3
    assert engine.runtime.list_containers({key: f"{engine.prefix}-no-such-value"}) == []


def test_exec_returns_status_and_output_as_the_user(engine: Engine) -> None:
    info = make(engine, "exec")
    runtime = engine.runtime
    runtime.start(info.name)
    assert runtime.exec(info.name, ["true"]) == (0, "")
    status, _ = runtime.exec(info.name, ["false"])
    assert status == 1
    assert runtime.exec(info.name, ["echo", "hello", "there"]) == (0, "hello there\n")
    assert runtime.exec(info.name, ["id", "-u"]) == (0, "0\n")  # the container's user
    assert runtime.exec(info.name, ["id", "-u"], user="1234:1235") == (0, "1234\n")
    assert runtime.exec(info.name, ["id", "-g"], user="1234:1235") == (0, "1235\n")


def test_exec_needs_a_running_container(engine: Engine) -> None:
    info = make(engine, "stopped")
    with pytest.raises(RuntimeFailure):
        engine.runtime.exec(info.name, ["true"])


def test_put_files(engine: Engine) -> None:
    data = volume(engine, "files")
    info = make(engine, "put", mounts=[Mount(data, "/data", volume=True)], read_only=False)
    runtime = engine.runtime
    runtime.put_files(info.name, {"/data/dir/": (b"", 0o750),
                                  "/data/dir/note": (b"a note\n", 0o640),
                                  "/etc/myonion-note": (b"two\n", 0o644)}, "1234:1234")
    runtime.start(info.name)
    owner = "1234:1234"
    assert runtime.exec(info.name, ["cat", "/data/dir/note"], user=owner) == (0, "a note\n")
    assert runtime.exec(info.name, ["cat", "/etc/myonion-note"]) == (0, "two\n")  # 0644
    status, _ = runtime.exec(info.name, ["cat", "/data/none"], user=owner)
    assert status == 1
    # owned by the user given, with the mode given: with every capability dropped, neither
    # another user nor root reads a 0640 file
    for other in ("4321:4321", None):
        status, output = runtime.exec(info.name, ["cat", "/data/dir/note"], user=other)
        assert status == 1 and "Permission denied" in output


def test_put_files_needs_a_writable_container(engine: Engine) -> None:
    data = volume(engine, "ro")
    info = make(engine, "readonly", mounts=[Mount(data, "/data", volume=True)])
    with pytest.raises(RuntimeFailure, match="read-only"):
        engine.runtime.put_files(info.name, {"/data/x": (b"x", 0o644)}, "0:0")


def test_logs_of_a_container(engine: Engine) -> None:
    info = make(engine, "logs")
    lines = list(engine.runtime.logs(info.name, tail=10))
    assert all(isinstance(line, str) for line in lines)


# --- one-off tasks ---------------------------------------------------------------------------


def test_run_task_with_files_and_user(engine: Engine) -> None:
    data = volume(engine, "task")
    mounts = [Mount(data, "/v", volume=True)]
    runtime = engine.runtime
    status, output = runtime.run_task(IMAGE, ["cat", "/v/in"], mounts,
                                      files={"/v/in": (b"given\n", 0o600)}, user="1234:1234")
    assert (status, output) == (0, "given\n")
    assert runtime.run_task(IMAGE, ["id", "-u"], [], user="1234:1234") == (0, "1234\n")
    assert runtime.run_task(IMAGE, ["id", "-u"], []) == (0, "0\n")
    status, _ = runtime.run_task(IMAGE, ["false"], [])
    assert status == 1
    # the task container is gone: nothing of this run's is left but what it made itself
    assert runtime.list_containers(engine.label) == []


def test_run_task_with_a_missing_image(engine: Engine) -> None:
    with pytest.raises(RuntimeFailure):
        engine.runtime.run_task(f"myonion/{engine.prefix}-none:1", ["true"], [])


# --- volumes and networks --------------------------------------------------------------------


def test_volumes(engine: Engine) -> None:
    runtime = engine.runtime
    key = "org.myonion.contract.kind"
    first = engine.name("v1")
    second = engine.name("v2")
    engine.volumes += [first, second]
    runtime.create_volume(first, {**engine.label, key: "a"})
    runtime.create_volume(second, {**engine.label, key: "b"})
    assert sorted(runtime.list_volumes(engine.label)) == sorted([first, second])
    assert runtime.list_volumes({**engine.label, key: "a"}) == [first]
    runtime.remove_volume(first)
    assert runtime.list_volumes(engine.label) == [second]
    runtime.remove_volume(first)  # gone already: no error


def test_networks(engine: Engine) -> None:
    runtime = engine.runtime
    key = "org.myonion.contract.kind"
    first, second = engine.name("n1"), engine.name("n2")
    engine.networks += [first, second]
    assert not runtime.network_exists(first)
    runtime.create_network(first, internal=True, subnet=None, labels={**engine.label, key: "a"})
    runtime.create_network(second, internal=False, subnet=None,
                           labels={**engine.label, key: "b"},
                           options={"com.docker.network.bridge.enable_ip_masquerade": "false"})
    assert runtime.network_exists(first) and runtime.network_exists(second)
    assert sorted(runtime.list_networks(engine.label)) == sorted([first, second])
    assert runtime.list_networks({**engine.label, key: "b"}) == [second]
    with pytest.raises(RuntimeFailure):
        runtime.create_network(first, internal=True, subnet=None, labels=engine.label)
    runtime.remove_network(first)
    assert not runtime.network_exists(first)
    runtime.remove_network(first)  # gone already: no error
    assert all(isinstance(s, str) for s in runtime.used_subnets())


def test_a_container_joins_extra_networks(engine: Engine) -> None:
    net = engine.name("extra")
    engine.networks.append(net)
    engine.runtime.create_network(net, internal=True, subnet=None, labels=engine.label)
    name = engine.name("joined")
    engine.containers.append(name)
    info = engine.runtime.create(ContainerSpec(name=name, image=IMAGE, labels=engine.label,
                                               command=RUN_UNTIL_STOPPED,
                                               extra_networks=[net]))
    assert net in info.ip_addresses


# --- images ----------------------------------------------------------------------------------


def test_images_tag_and_remove(engine: Engine) -> None:
    runtime = engine.runtime
    repository = f"myonion/{engine.prefix}"
    tag = f"{repository}:one"
    engine.tags.append(tag)
    assert runtime.image_exists(IMAGE)
    assert not runtime.image_exists(tag)
    assert runtime.image_id(tag) is None
    base = runtime.image_id(IMAGE)
    assert base is not None and base.startswith("sha256:")
    runtime.tag_image(base, tag)
    assert runtime.image_exists(tag) and runtime.image_id(tag) == base
    assert runtime.list_images(repository) == [tag]
    assert runtime.image_size(tag) > 0
    runtime.remove_image(tag)
    assert not runtime.image_exists(tag)
    assert runtime.image_exists(IMAGE) and runtime.image_id(IMAGE) == base  # untouched
    runtime.remove_image(tag)  # gone already: no error
    with pytest.raises(RuntimeFailure):
        runtime.tag_image("sha256:" + "0" * 64, tag)


def test_errors_are_myonion_errors(engine: Engine) -> None:
    """Whatever the engine refuses arrives as a MyOnionError (a sentence and a hint)."""
    with pytest.raises(MyOnionError):
        engine.runtime.start(engine.name("nothing"))
    with pytest.raises(MyOnionError):
        engine.runtime.create(ContainerSpec(name="bad/name", image=IMAGE, labels={}))
