"""The test helpers that read rendered configurations (tests/configs.py) see what the
programs would see: an injected directive is a directive, a broken file is an error."""

from __future__ import annotations

import pytest

from tests import configs


def test_nginx_sees_a_directive_smuggled_into_a_value() -> None:
    flat = configs.nginx_flat(configs.nginx("server { index index.html; autoindex on; }"))
    assert flat == [("", "server", ()), ("server", "index", ("index.html",)),
                    ("server", "autoindex", ("on",))]


@pytest.mark.parametrize(("text", "expected"), [
    ('index "a b" \'c;d\';', [("", "index", ("a b", "c;d"))]),
    ('index "a\\"b";', [("", "index", ('a"b',))]),
    ("index a#b; # a comment; autoindex on;\nlisten 1;", [("", "index", ("a#b",)),
                                                          ("", "listen", ("1",))]),
    ("location ~ /\\. { deny all; }", [("", "location", ("~", "/\\.")),
                                      ("location ~ /\\.", "deny", ("all",))]),
    ("a {\n b { c 1; }\n}\n", [("", "a", ()), ("a", "b", ()), ("a/b", "c", ("1",))]),
])
def test_nginx_tokens(text: str, expected: list[tuple[str, str, tuple[str, ...]]]) -> None:
    assert configs.nginx_flat(configs.nginx(text)) == expected


@pytest.mark.parametrize("text", ["index a", "a { b 1; ", "}", "a { b 1 }", "; a;",
                                  'index "a', 'index "a"b;', '"quoted" name;'])
def test_nginx_refuses_what_nginx_refuses(text: str) -> None:
    with pytest.raises(configs.ConfigSyntaxError):
        configs.nginx(text)


def test_nginx_find() -> None:
    conf = configs.nginx("http { server { index a; } server { index b c; } }")
    assert [d.args for d in configs.nginx_find(conf, "http/server/index")] == [("a",),
                                                                                ("b", "c")]


def test_torrc() -> None:
    text = ("# comment\nSocksPort 0\n  Log notice stderr # trailing\n"
            "HiddenServicePort 80 \\\n  127.0.0.1:8080\nNickname \"a#b\\x41\"\n"
            "%include /etc/tor/torrc.d/*.conf\n\n")
    assert configs.torrc(text) == [("SocksPort", "0"), ("Log", "notice stderr"),
                                   ("HiddenServicePort", "80   127.0.0.1:8080"),
                                   ("Nickname", "a#bA"),
                                   ("%include", "/etc/tor/torrc.d/*.conf")]
    assert configs.torrc_values(configs.torrc("socksport 1\nSocksPort 2\n"), "SOCKSPORT") == [
        "1", "2"]
    with pytest.raises(configs.ConfigSyntaxError):
        configs.torrc("Nickname \"open\n")


def test_keyword_files() -> None:
    assert configs.mosquitto("# c\nlistener 1883 0.0.0.0\n\n  log_type error\n") == [
        ("listener", "1883 0.0.0.0"), ("log_type", "error")]
    assert configs.sshd("Port 22\nPasswordAuthentication\tno\n") == [
        ("port", "22"), ("passwordauthentication", "no")]
    assert configs.env_file("# c\nA=1\nB=x=y\n") == [("A", "1"), ("B", "x=y")]
    with pytest.raises(configs.ConfigSyntaxError):
        configs.env_file("A=1\nnot a pair\n")


def test_shell_words_see_a_second_command() -> None:
    one = configs.shell_words("exec 3<>/dev/tcp/h/1\n")
    assert one == ["exec", "3", "<>", "/dev/tcp/h/1", "\n"]
    assert configs.shell_words("exec 3<>/dev/tcp/h;id/1\n") != one
    assert "id" in configs.shell_words("# x\nid\n")
    with pytest.raises(configs.ConfigSyntaxError):
        configs.shell_words("echo 'open\n")
