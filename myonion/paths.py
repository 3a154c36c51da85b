"""Where myonion keeps its files: one data dir (state, keys) and one config dir, both 0700.

``MYONION_HOME`` overrides both (tests, and several independent setups on one machine).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "myonion"


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def data_dir() -> Path:
    """The data directory (service records, testnet keys, service control dirs)."""
    home = os.environ.get("MYONION_HOME")
    base = Path(home) / "data" if home else Path(platformdirs.user_data_dir(APP))
    return _private_dir(base)


def config_dir() -> Path:
    """The configuration directory (user templates live in ``templates/`` below it)."""
    home = os.environ.get("MYONION_HOME")
    base = Path(home) / "config" if home else Path(platformdirs.user_config_dir(APP))
    return _private_dir(base)


def services_dir() -> Path:
    return _private_dir(data_dir() / "services")


def service_dir(name: str) -> Path:
    return _private_dir(services_dir() / name)


def testnet_dir() -> Path:
    return _private_dir(data_dir() / "testnet")


def user_templates_dir() -> Path:
    """User templates: ``<config>/templates/<id>/template.yaml`` (need not exist)."""
    return config_dir() / "templates"


def builtin_templates_dir() -> Path:
    """The templates shipped with myonion (inside the wheel, or the source checkout)."""
    here = Path(__file__).resolve().parent
    packaged = here / "containers"
    return packaged if packaged.is_dir() else here.parent / "containers"
