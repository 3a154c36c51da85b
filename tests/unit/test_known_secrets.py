"""myonion.known_secrets.KNOWN is complete: every literal secret in the project's examples and docs
(README, docs/, compose/, examples/, the templates' manifests) is in it, so none of them is ever
accepted as a device token or password."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from myonion import known_secrets

ROOT = Path(__file__).resolve().parents[2]
#: where the project shows configuration to its users
SOURCES = ("README.md", "docs/**/*.md", "compose/**/*", "examples/**/*",
           "containers/*/template.yaml", "containers/*/README.md")
#: what a secret looks like where the examples give one (the value is group 1)
PATTERNS = [
    # a device line, "id:secret" (YAML, options, shell)
    re.compile(r"(?<![\w/.:-])[a-z0-9_-]{1,64}:([A-Za-z0-9._~+/=!-]{12,256})(?![\w/])"),
    # the token after a route's URL
    re.compile(r"http://\S+\s+([A-Za-z0-9._~+/=-]{16,256})\b"),
    # clients' command lines and code
    re.compile(r"\s-P\s+['\"]?([^\s'\"]+)"),
    re.compile(r"--pw\s+['\"]?([^\s'\"]+)"),
    re.compile(r"Bearer\s+([A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"username_pw_set\(\s*['\"][^'\"]*['\"]\s*,\s*['\"]([^'\"]+)['\"]"),
    re.compile(r"(?i)(?:token|password|passwd|secret|_pw)['\"]?\s*[:=]\s*['\"]?"
               r"([A-Za-z0-9._~+/=!-]{12,})"),
]
#: not secrets although shaped like them: stand-ins that are refused anyway are in PLACEHOLDER
NOT_SECRETS = re.compile(r"[a-z2-7]{56}\.onion.*|(?:[0-9A-F]{2}:){8,}[0-9A-F:]*|"
                         r"descriptor|x25519|[0-9]{4}-[0-9]{2}-[0-9]{2}T.*|"
                         r"[A-Z][A-Z0-9_]*|[0-9.:]+|[a-z]+(?:[-_][a-z]+)*|"
                         r"[A-Za-z_]+(?:\.[A-Za-z_]+)+")  # names, dotted names in code


def example_files() -> list[Path]:
    found: set[Path] = set()
    for pattern in SOURCES:
        found.update(p for p in ROOT.glob(pattern) if p.is_file() and p.suffix not in (
            ".png", ".jpg", ".pdf"))
    return sorted(found)


def literal_secrets(text: str) -> set[str]:
    """The values in ``text`` that are given where a secret goes."""
    found: set[str] = set()
    for line in text.splitlines():
        for pattern in PATTERNS:
            for value in pattern.findall(line):
                value = value.rstrip(".,;)'\"`")
                if any(c in value for c in "$<>{}()…*") or "..." in value or value[0] == "/":
                    continue  # a reference, a placeholder or an elision: nothing literal
                if len(value) >= 8 and not NOT_SECRETS.fullmatch(value):
                    found.add(value)
    return found


def test_the_scan_finds_secrets_where_examples_give_them() -> None:
    text = """
        devices: "kitchen:Kq9xW2mVt7LpZr3s"
        kitchen http://aaaad.onion/api/v1/readings/kitchen Tk7Vq2Lm9Xc4Rp8Z
        mosquitto_pub -u kitchen -P 'Hx4Lq8Vm2Zt6Wp9K' -t readings/kitchen
        curl -H "Authorization: Bearer Yq3Zt8Vk2Lm7Xp4W" https://pi:8443/
        client.username_pw_set("kitchen", "Bv6Nc2Xm8Lq4Zt7R")
        TOKEN = "Mw2Xq8Vz4Lp7Kt3N"
        devices: ${receiver.devices}    # a reference: nothing literal
        receiver_tokens: ${receiver.tokens}
        mosquitto_pub -P "$(jq -r .secret device.json)" -P <password>
    """
    assert literal_secrets(text) == {"Kq9xW2mVt7LpZr3s", "Tk7Vq2Lm9Xc4Rp8Z", "Hx4Lq8Vm2Zt6Wp9K",
                                     "Yq3Zt8Vk2Lm7Xp4W", "Bv6Nc2Xm8Lq4Zt7R", "Mw2Xq8Vz4Lp7Kt3N"}


@pytest.mark.parametrize("path", example_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_literal_secret_of_the_examples_is_known(path: Path) -> None:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return
    unknown = sorted(s for s in literal_secrets(text) if not known_secrets.known(s))
    assert unknown == [], (f"{path.relative_to(ROOT)} shows secrets that myonion would accept: "
                           f"add them to myonion/known_secrets.py KNOWN (or show none)")


def test_known_ones_are_refused_and_fresh_ones_are_not() -> None:
    for secret in known_secrets.KNOWN:
        assert known_secrets.known(secret)
    assert known_secrets.known("change-me-please-000") and known_secrets.known("REPLACE_ME_123")
    assert not known_secrets.known("Jx8Vq2Lm7Zt4Wp9K-generated")
