"""The forward's relay (containers/forward/files/: forward_guard.py, the address checks, and
myonion_forward.py, the relay that imports it), loaded on the host's Python for the tests, as
the container's python3 runs them. Loaded once: the relay's ``guard`` is :func:`guard_module`."""

from __future__ import annotations

import functools
import importlib.util
import sys
from types import ModuleType

from myonion import paths

FILES = paths.builtin_templates_dir() / "forward" / "files"


def _load(name: str, filename: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FILES / filename)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@functools.cache
def guard_module() -> ModuleType:
    """forward_guard.py, under the name the relay imports it by."""
    return _load("forward_guard", "forward_guard.py")


@functools.cache
def relay_module() -> ModuleType:
    guard_module()
    return _load("myonion_forward_under_test", "myonion_forward.py")
