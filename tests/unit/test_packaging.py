"""What the wheel ships: the templates in containers/ (needed at run time) and the desktop app
as ``myonion_gui`` (a name of myonion's, never a generic top-level ``gui``)."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(out), str(ROOT)], check=True, capture_output=True)
    return next(out.glob("myonion-*.whl"))


def test_wheel_ships_the_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ROOT.joinpath("containers").iterdir():
        for path in folder.rglob("*"):
            if path.is_file():
                rel = path.relative_to(ROOT / "containers").as_posix()
                assert f"myonion/containers/{rel}" in names, rel
    assert "myonion/cli/__init__.py" in names and "myonion_gui/__init__.py" in names
    # every module of the package: a .gitignore pattern ("build/") once left myonion/build/ out,
    # which an editable install never shows
    modules = {p.relative_to(ROOT).as_posix() for p in ROOT.joinpath("myonion").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sorted(modules - names) == []
    # the template schema is published with the package, with the validator made from it
    assert {"myonion/templates/template.schema.json", "myonion/templates/_validator.py"} <= names


def test_the_desktop_app_installs_as_myonion_gui(wheel: Path, tmp_path: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(
        (".dist-info", ".data"))}
    assert tops == {"myonion", "myonion_gui"}
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "myonion-gui = myonion_gui.app:main" in entry_points
    # installed into a fresh environment (no dependencies needed to import the package itself)
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True)
    probe = ("import importlib.util, myonion_gui; "
             "print(myonion_gui.__file__); print(importlib.util.find_spec('gui'))")
    result = subprocess.run([str(python), "-c", probe], cwd=tmp_path, check=True,
                            capture_output=True, text=True)
    where, gui_spec = result.stdout.splitlines()
    assert where.startswith(str(env)) and where.endswith("myonion_gui/__init__.py")
    assert gui_spec == "None"


def test_test_modules_have_unique_names() -> None:
    """pytest imports tests/ without packages: two test_x.py in different folders collide."""
    from collections import Counter

    root = Path(__file__).resolve().parents[1]
    names = Counter(p.name for p in root.rglob("test_*.py"))
    assert [n for n, count in names.items() if count > 1] == []
