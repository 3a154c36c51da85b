"""The test network's pure parts: plan, subnet choice, key output parsing, torrc rendering."""

from __future__ import annotations

import json
import subprocess

import pytest

from myonion import errors
from myonion import testnet as tn
from myonion.runtime.base import LABEL_ROLE, ContainerSpec
from myonion.runtime.fake import FakeRuntime
from myonion.testnet import layout, lifecycle
from myonion.testnet import nodes as tn_nodes

# Real output of `tor --list-fingerprint ...` (tor 0.4.9.11) followed by the certificate's
# fingerprint line, as keygen_script prints them.
LIST_FINGERPRINT = """\
Nov 22 06:02:16.170 [warn] TestingTorNetwork is set. This will make your node almost unusable \
in the public Tor network, and is therefore only advised if you are building a testing Tor \
network!
Nov 22 06:02:16.404 [notice] Your Tor server's identity key fingerprint is 'auth2 \
A217D6A63FEFBEC14EDD130FC9BA29EA34F2D6D7'
Nov 22 06:02:16.404 [notice] Your Tor server's identity key ed25519 fingerprint is 'auth2 \
K1cIIuv0UGspXvsdMagsayoK6taq7D9drVGG5EUsHl0'
auth2 A217 D6A6 3FEF BEC1 4EDD 130F C9BA 29EA 34F2 D6D7
"""
CERT_LINE = "fingerprint 50A7A993419B019C41C494F07B6D9F7CC583200E\n"
CERTIFICATE = (
    "dir-key-certificate-version 3\n"
    "dir-address 10.213.0.202:7000\n"
    + CERT_LINE
    + "dir-key-published 2026-11-22 06:02:16\n"
    "dir-key-expires 2027-11-22 06:02:16\n"
    "dir-identity-key\n-----BEGIN RSA PUBLIC KEY-----\nMIIBigKCAYEA\n"
    "-----END RSA PUBLIC KEY-----\n"
)


def keygen_output(names: list[str]) -> str:
    out = []
    for i, name in enumerate(names):
        fp = f"{i:X}" * 40
        spaced = " ".join(fp[j:j + 4] for j in range(0, 40, 4))
        out.append(f"{tn.SECTION}{name}\n[notice] Bootstrapped nothing\n{name} {spaced}\n"
                   f"fingerprint {f'{i + 5:X}' * 40}\n")
    return "".join(out)


# --- plan and subnet -------------------------------------------------------------------------
def test_pick_subnet_skips_used_and_overlapping_networks() -> None:
    assert tn.pick_subnet([]) == "10.213.0.0/24"
    used = ["172.17.0.0/16", "10.213.0.0/24", "10.213.1.128/25", "fd00::/64", "garbage"]
    assert tn.pick_subnet(used) == "10.213.2.0/24"


def test_pick_subnet_fails_when_the_pool_is_covered() -> None:
    with pytest.raises(errors.TestnetError, match="already used") as caught:
        tn.pick_subnet(["10.0.0.0/8"])
    assert caught.value.hint


def test_plan_places_nodes_at_fixed_addresses() -> None:
    nodes = tn.plan("10.213.7.0/24", authorities=3, relays=2,
                    access=tn.access_plan("10.213.8.0/24"))
    assert [(n.name, n.role, n.address) for n in nodes] == [
        ("auth1", "authority", "10.213.7.201"),
        ("auth2", "authority", "10.213.7.202"),
        ("auth3", "authority", "10.213.7.203"),
        ("relay1", "relay", "10.213.7.211"),
        ("relay2", "relay", "10.213.7.212"),
        ("client", "client", "10.213.8.250"),  # on the access bridge
    ]
    assert nodes[0].container == "myonion-testnet-auth1" == nodes[0].volume


@pytest.mark.parametrize(("authorities", "relays", "words"), [
    (0, 3, "1 to 10 directory authorities"),
    (11, 3, "1 to 10"),
    (3, -1, "0 to 89 relays"),
    (3, 90, "0 to 89 relays"),
    (2, 1, "too few"),
])
def test_bad_sizes_are_refused_with_a_hint(authorities: int, relays: int, words: str) -> None:
    with pytest.raises(errors.TestnetError, match=words) as caught:
        tn.plan("10.213.0.0/24", authorities, relays)
    assert caught.value.hint


def test_largest_plan_fits_below_the_top_of_the_subnet() -> None:
    nodes = tn.plan("10.213.0.0/24", tn.MAX_AUTHORITIES, tn.MAX_RELAYS)
    addresses = [n.address for n in nodes if n.role != "client"]
    assert len(set(addresses)) == len(addresses)
    hosts = sorted(int(a.rsplit(".", 1)[1]) for a in addresses)
    # one block from LOW_HOST to the top, the client's .250 excepted: every address is in
    # the /24, and .2-.150 stay free for the services Docker gives dynamic addresses to
    assert hosts == list(range(tn.LOW_HOST, tn.LAST_HOST))
    assert tn.MAX_RELAYS == 89


def test_default_sizes_keep_their_addresses() -> None:
    """Up to HIGH_RELAYS relays sit where they always did (.211 upwards)."""
    relays = [n for n in tn.plan("10.213.0.0/24", 3, tn.HIGH_RELAYS) if n.role == "relay"]
    assert [n.address for n in relays] == [f"10.213.0.{211 + i}" for i in range(39)]
    assert tn.lowest_host(3) == tn.lowest_host(tn.HIGH_RELAYS) == tn.AUTHORITY_HOST == 201


def test_more_relays_go_below_the_authorities() -> None:
    nodes = tn.plan("10.213.4.0/24", 3, 60, prefix="sm-x-",
                    access=tn.access_plan("10.213.5.0/24"))
    relays = [n for n in nodes if n.role == "relay"]
    assert len(relays) == 60 and len({n.address for n in nodes}) == len(nodes)
    assert relays[38].address == "10.213.4.249"
    assert (relays[39].name, relays[39].address) == ("relay40", "10.213.4.200")
    assert relays[59].address == "10.213.4.180"
    assert relays[59].container == "sm-x-relay60"
    assert tn.lowest_host(60) == 180
    with pytest.raises(errors.TestnetError, match="no address for relay 90"):
        tn.relay_host(tn.MAX_RELAYS)


def test_testnet_keeps_its_sizes_for_up(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(lifecycle, "up", lambda ctx, relays, authorities, timeout:
                        calls.append((relays, authorities)))
    runtime = FakeRuntime()
    tn.Testnet(runtime, name="sm-unit", relays=60).up()
    tn.Testnet(runtime, name="sm-unit", relays=60).up(relays=5)
    tn.Testnet(runtime).up()  # the default network: as it always was
    assert calls == [(60, 3), (5, 3), (3, 3)]
    with pytest.raises(errors.TestnetError, match="0 to 89 relays") as caught:
        tn.Testnet(runtime, name="sm-unit", relays=200)
    assert "/24" in caught.value.message and caught.value.hint


# --- parsing tool output ---------------------------------------------------------------------
def test_parse_fingerprint_takes_the_spaced_line() -> None:
    assert tn.parse_fingerprint(LIST_FINGERPRINT) == (
        "auth2", "A217D6A63FEFBEC14EDD130FC9BA29EA34F2D6D7")


def test_parse_fingerprint_without_one_fails() -> None:
    with pytest.raises(errors.TestnetError, match="no fingerprint") as caught:
        tn.parse_fingerprint("Nov 22 [err] something went wrong\n")
    assert "something went wrong" in (caught.value.detail or "")


def test_parse_v3ident_from_certificate() -> None:
    assert tn.parse_v3ident(CERTIFICATE) == "50A7A993419B019C41C494F07B6D9F7CC583200E"
    with pytest.raises(errors.TestnetError):
        tn.parse_v3ident("dir-key-certificate-version 3\n")


def test_parse_keygen_output_for_every_authority() -> None:
    text = f"{tn.SECTION}auth2\n{LIST_FINGERPRINT}{CERT_LINE}"
    keys = tn.parse_keygen_output(text, ["auth2"])
    assert keys == {"auth2": tn.AuthorityKeys(
        "auth2", "50A7A993419B019C41C494F07B6D9F7CC583200E",
        "A217D6A63FEFBEC14EDD130FC9BA29EA34F2D6D7")}
    many = tn.parse_keygen_output(keygen_output(["auth1", "auth2", "auth3"]),
                                  ["auth1", "auth2", "auth3"])
    assert many["auth3"].fingerprint == "2" * 40 and many["auth3"].v3ident == "7" * 40


def test_parse_keygen_output_refuses_missing_or_mixed_up_sections() -> None:
    with pytest.raises(errors.TestnetError, match="auth2 printed nothing"):
        tn.parse_keygen_output(keygen_output(["auth1"]), ["auth1", "auth2"])
    swapped = keygen_output(["auth1"]).replace(f"{tn.SECTION}auth1", f"{tn.SECTION}auth2")
    with pytest.raises(errors.TestnetError, match="carry the nickname auth1"):
        tn.parse_keygen_output(swapped, ["auth2"])


def test_keygen_script_never_lets_tor_near_a_network() -> None:
    nodes = tn.plan("10.213.4.0/24")
    script = tn.keygen_script([n for n in nodes if n.role == "authority"])
    assert script.count("keys auth") == 3 and "keys auth2 10.213.4.202 &" in script
    assert "--DisableNetwork 1" in script and "--TestingTorNetwork 1" in script
    assert "127.0.0.1:1 " + "0" * 40 in script  # the only authority it knows is a placeholder
    assert "--passphrase-fd 0 </dev/null" in script
    assert script.index("chmod 0700") < script.index("chown -R 10001:10001")
    subprocess.run(["bash", "-n", "-c", script], check=True)  # bash is essential in Debian


# --- rendering -------------------------------------------------------------------------------
ACCESS = tn.access_plan("10.213.6.0/24")


@pytest.fixture
def rendered() -> tuple[list[tn.Node], list[str], dict[str, tuple[bytes, int]]]:
    nodes = tn.plan("10.213.5.0/24", access=ACCESS)
    auths = [n.name for n in nodes if n.role == "authority"]
    keys = tn.parse_keygen_output(keygen_output(auths), auths)
    dirauths = tn.dirauthority_lines(nodes, keys)
    return nodes, dirauths, tn.node_files(nodes, dirauths, "10.213.5.0/24", ACCESS)


def test_dirauthority_line_format() -> None:
    node = tn.Node("auth1", "authority", "10.213.0.201")
    keys = tn.AuthorityKeys("auth1", "A" * 40, "B" * 40)
    assert tn.dirauthority_line(node, keys) == (
        f"DirAuthority auth1 orport=5000 no-v2 v3ident={'A' * 40} 10.213.0.201:7000 {'B' * 40}")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_every_torrc_is_a_testing_network_with_only_our_authorities(rendered: tuple) -> None:
    nodes, dirauths, files = rendered
    assert len(dirauths) == 3
    texts = [files[f"/nodes/{n.name}/torrc"][0].decode() for n in nodes]
    texts.append(files[f"/include/{tn.INCLUDE_FILE}"][0].decode())
    for text in texts:
        lines = _lines(text)
        assert "TestingTorNetwork 1" in lines
        assert [line for line in lines if "DirAuthority" in line] == dirauths
        assert not any(line.split()[0] in {"FallbackDir", "UseBridges", "Bridge",
                                           "AlternateDirAuthority"} for line in lines)
        keys = [line.split()[0] for line in lines if line.split()[0] != "DirAuthority"]
        assert len(keys) == len(set(keys)) or keys.count("SocksPolicy") == 2


def test_authority_relay_and_client_torrcs(rendered: tuple) -> None:
    nodes, _, files = rendered
    by_name = {n.name: _lines(files[f"/nodes/{n.name}/torrc"][0].decode()) for n in nodes}
    auth, relay, client = by_name["auth2"], by_name["relay1"], by_name["client"]
    for lines in (auth, relay):
        for want in ("AssumeReachable 1", "ExitRelay 0", "ExitPolicy reject *:*",
                     "ServerDNSDetectHijacking 0", f"ServerDNSResolvConfFile {tn.RESOLV_CONF}",
                     "SocksPort 0", "ORPort 5000", "PathsNeededToBuildCircuits 0.67",
                     f"GeoIPFile {tn.EMPTY_GEOIP}", f"GeoIPv6File {tn.EMPTY_GEOIP}",
                     "DataDirectory /var/lib/tor", "Log notice stderr"):
            assert want in lines
    assert "Address 10.213.5.202" in auth and "Nickname auth2" in auth
    for want in ("AuthoritativeDirectory 1", "V3AuthoritativeDirectory 1", "DirPort 7000",
                 "V3AuthVotingInterval 10", "TestingV3AuthInitialVotingInterval 10",
                 "TestingDirAuthVoteGuard *", "TestingDirAuthVoteHSDir *"):
        assert want in auth
        assert want not in relay
    assert "Address 10.213.5.211" in relay
    assert "ReachableAddresses accept 10.213.5.0/24:*, reject *:*" in client
    # it proves 20 services shared at once: ~60 circuits pending, over tor's default of 32
    assert "MaxClientCircuitsPending 128" in client
    # the visitor, like the services, uses no entry guards on 6 nodes; relays keep tor's way
    assert "UseEntryGuards 0" in client
    assert not any(line.startswith("UseEntryGuards") for line in auth + relay)
    assert not any(line.startswith(("ORPort", "DirPort", "Address", "ExitRelay"))
                   for line in client)


def test_node_files_paths_and_modes(rendered: tuple) -> None:
    nodes, _, files = rendered
    assert files["/nodes/relay3/torrc"][1] == 0o600
    assert files["/nodes/auth1/resolv.conf"] == (b"nameserver 127.0.0.1\n", 0o644)
    assert "/nodes/client/resolv.conf" not in files
    assert files[f"/include/{tn.INCLUDE_FILE}"][1] == 0o644
    # the client's ClientOnionAuthDir is made with the other files, owned by tor, 0700
    assert files["/nodes/client/onion-auth/"] == (b"", 0o700)
    # the folder the client keeps the directory's copy in (services read it, not write it)
    assert files[f"/include/{layout.DIRECTORY_SUBDIR}/"] == (b"", 0o755)
    assert len(files) == 1 + len(nodes) + (len(nodes) - 1) + 1 + 1


def test_include_is_small_and_needs_authorities() -> None:
    text = tn.render_include(["DirAuthority a orport=1 no-v2 v3ident=X 10.0.0.1:7 Y"])
    # services on 6 nodes use no entry guards: with them, ~1 share in 4 waited 1-8 s for a
    # first circuit whose last hop was its guard (see render.NO_GUARDS)
    assert _lines(text) == ["TestingTorNetwork 1",
                            "DirAuthority a orport=1 no-v2 v3ident=X 10.0.0.1:7 Y",
                            "PathsNeededToBuildCircuits 0.67", "UseEntryGuards 0"]
    with pytest.raises(errors.TestnetError):
        tn.render_include([])


# --- logs ------------------------------------------------------------------------------------
def test_last_bootstrap_and_consensus_from_logs() -> None:
    lines = [
        "Nov 22 06:02:39.000 [notice] Bootstrapped 0% (starting): Starting",
        "Nov 22 06:02:50.000 [notice] Time to publish the consensus and discard old votes",
        "Nov 22 06:02:50.000 [warn] Not enough info to publish pending ns consensus",
        "Nov 22 06:03:26.000 [notice] Bootstrapped 75% (enough_dirinfo): Loaded enough",
        "Nov 22 06:03:27.000 [notice] Bootstrapped 100% (done): Done",
    ]
    assert tn.last_bootstrap(lines) == 100
    assert tn.last_bootstrap(lines[:4]) == 75
    assert tn.last_bootstrap([]) is None
    assert not tn.has_consensus(lines)
    assert tn.has_consensus(["Nov 22 06:02:50.000 [notice] Published ns consensus"])
    assert tn.has_consensus(["Nov 22 06:02:50.000 [notice] Published microdesc consensus"])


def test_directory_counts_and_when_a_relay_may_be_signalled() -> None:
    assert tn.parse_count("6\n") == 6
    assert tn.parse_count("0") == 0
    assert tn.parse_count("grep: /var/lib/tor/cached-microdesc-consensus: No such file\n") is None
    assert tn.parse_count("") is None
    assert tn.parse_counts("6\n6\n") == (6, 6)
    assert tn.parse_counts("0\n0\n") == (0, 0)
    assert tn.parse_counts("oops\n") == (None, None)
    assert tn.parse_counts("") == (None, None)
    assert "grep -c '^r '" in tn.DIRECTORY_COUNTS and "sort -u" in tn.DIRECTORY_COUNTS
    assert not tn.can_signal([])  # not started yet: a SIGHUP would kill it
    assert not tn.can_signal(["[notice] Read configuration file \"/var/lib/tor/torrc\"."])
    assert tn.can_signal(["[notice] Bootstrapped 0% (starting): Starting"])


def test_status_to_dict_is_json() -> None:
    st = tn.TestnetStatus(up=True, socks=("127.0.0.1", 5000),
                          nodes=[tn.NodeStatus("client", "client", "running", 100, "10.0.0.2")],
                          consensus=True, client_bootstrapped=True, timings={"consensus": 9.5})
    data = json.loads(json.dumps(st.to_dict()))
    assert data["socks"] == ["127.0.0.1", 5000]
    assert data["nodes"][0]["bootstrap"] == 100


# --- the facade on an empty engine -------------------------------------------------------------
def test_nothing_up_on_an_empty_engine() -> None:
    net = tn.Testnet(FakeRuntime())
    st = net.status()
    assert not st.up and st.nodes == [] and st.socks is None and not st.consensus
    assert not net.is_up()
    with pytest.raises(errors.TestnetError, match="not up") as caught:
        net.socks()
    assert "myonion testnet up" in (caught.value.hint or "")
    net.down()  # nothing to remove: no error


def test_up_refuses_bad_sizes_before_touching_the_engine() -> None:
    runtime = FakeRuntime()
    with pytest.raises(errors.TestnetError):
        tn.Testnet(runtime).up(relays=0, authorities=1)
    assert runtime.networks == {} and runtime.containers == {}


def test_down_changes_nothing_while_a_service_uses_the_network() -> None:
    runtime = FakeRuntime(images={"i"})
    runtime.create_network(tn.NETWORK, True, "10.213.0.0/24", {LABEL_ROLE: tn.ROLE_NETWORK})
    runtime.create_volume(tn.INCLUDE_VOLUME, {LABEL_ROLE: tn.ROLE_VOLUME})
    node = runtime.create(ContainerSpec(name="myonion-testnet-auth1", image="i", labels={
        LABEL_ROLE: "testnet-authority", tn.LABEL_NODE: "auth1"}))
    service = runtime.create(ContainerSpec(name="myonion-web", image="i",
                                           labels={LABEL_ROLE: "service"}))
    node.ip_addresses[tn.NETWORK] = "10.213.0.201"
    service.ip_addresses[tn.NETWORK] = ""  # stopped containers keep their networks
    with pytest.raises(errors.TestnetError, match="still used by myonion-web") as caught:
        tn.Testnet(runtime).down()
    assert "myonion rm" in (caught.value.hint or "")
    assert set(runtime.containers) == {"myonion-testnet-auth1", "myonion-web"}
    assert tn.NETWORK in runtime.networks and tn.INCLUDE_VOLUME in runtime.volumes
    runtime.remove("myonion-web")
    tn.Testnet(runtime).down()
    assert runtime.containers == {} and runtime.networks == {} and runtime.volumes == {}


@pytest.mark.parametrize(("phase", "wait"), [
    (0.0, 0.0),    # vote at :06, six seconds away
    (0.9, 0.0),    # 5.1 s away
    (2.5, 3.6),    # 3.5 s away: wait until just past it
    (5.9, 0.2),
    (6.0, 0.1),    # a vote right now: wait until just past it
    (6.2, 0.0),    # just past a vote: the next is ten seconds away
    (9.5, 0.0),
])
def test_nodes_start_well_before_a_vote(phase: float, wait: float) -> None:
    now = 1_795_329_000.0 + phase  # a multiple of ten: a consensus' valid-after time
    assert tn.start_delay(now) == pytest.approx(wait, abs=1e-6)
    until_vote = (6 - (now + tn.start_delay(now))) % 10
    assert until_vote >= tn.DESCRIPTOR_LEAD


def test_a_second_test_network_has_names_of_its_own() -> None:
    other = tn.Testnet(FakeRuntime(), name="myonion-it")
    assert (other.network, other.access_network, other.include_volume) == (
        "myonion-it", "myonion-it-access", "myonion-it-include")
    assert tn.plan("10.213.0.0/24", prefix=other.prefix)[0].volume == "myonion-it-auth1"
    default = tn.Testnet(FakeRuntime())
    assert (default.network, default.include_volume) == (tn.NETWORK, tn.INCLUDE_VOLUME)
    for bad in ("myonion-testnet-x", "Bad_Name", ""):
        with pytest.raises(errors.TestnetError, match="not a valid test network name"):
            tn.Testnet(FakeRuntime(), name=bad)


def test_down_removes_only_its_own_test_network() -> None:
    runtime = FakeRuntime(images={"i"})
    for name in ("myonion-testnet", "myonion-it"):
        runtime.create_network(name, True, None, {LABEL_ROLE: tn.ROLE_NETWORK})
        runtime.create_volume(f"{name}-include", {LABEL_ROLE: tn.ROLE_VOLUME})
        runtime.create(ContainerSpec(name=f"{name}-auth1", image="i", labels={
            LABEL_ROLE: "testnet-authority", tn.LABEL_NODE: "auth1"}))
    tn.Testnet(runtime, name="myonion-it").down()
    assert set(runtime.containers) == {"myonion-testnet-auth1"}
    assert set(runtime.networks) == {"myonion-testnet"}
    assert set(runtime.volumes) == {"myonion-testnet-include"}
    tn.Testnet(runtime).down()
    assert runtime.containers == {} and runtime.networks == {} and runtime.volumes == {}


@pytest.mark.parametrize(("relays", "later"), [(3, 10), (8, 10), (10, 10), (11, 60), (30, 60)])
def test_a_larger_network_votes_less_often_after_its_first_consensus(relays: int,
                                                                     later: int) -> None:
    nodes = tn.plan("10.213.5.0/24", relays=relays, access=ACCESS)
    files = tn.node_files(nodes, ["DirAuthority a orport=1 no-v2 v3ident=X 10.0.0.1:7 Y"],
                          "10.213.5.0/24", ACCESS)
    for node in nodes:
        options = dict(line.split(" ", 1)
                       for line in _lines(files[f"/nodes/{node.name}/torrc"][0].decode()))
        if node.role == "authority":
            # the first consensus comes as soon as ever; then one every `later` seconds
            assert options["TestingV3AuthInitialVotingInterval"] == "10"
            assert options["V3AuthVotingInterval"] == str(later)
        else:
            assert "V3AuthVotingInterval" not in options
        # a directory cache makes diffs from the last 6 intervals' consensuses only (by
        # default from 8,192 hours' worth: ~1 core busy after 20 minutes of 10 s votes)
        if node.role == "client":
            assert "MaxConsensusAgeForDiffs" not in options
        else:
            assert options["MaxConsensusAgeForDiffs"] == f"{6 * later} seconds"


def test_every_node_keeps_its_compression_memory_in_the_heap() -> None:
    # a directory cache's LZMA encoder zeroes a ~16 MiB table for every consensus and diff it
    # compresses: mapped afresh each time (glibc maps what is over 128 KiB by default with the
    # threshold set), the kernel faults and zeroes it again, 16-21 % of a core for an idle
    # network; kept in the heap, 3-4 %
    net = tn.Testnet(FakeRuntime())
    for node in tn.plan("10.213.5.0/24", access=ACCESS):
        env = tn_nodes.spec(net, node, "image", 3, 3, ACCESS).environment
        mapped_above = int(env["MALLOC_MMAP_THRESHOLD_"])
        assert mapped_above >= 16 << 20, node.name
        # freed tables are not handed back to the kernel either (trimmed only above this)
        assert int(env["MALLOC_TRIM_THRESHOLD_"]) >= 4 * mapped_above, node.name
