"""The templates in containers/ are needed at run time, so they must ship in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_the_templates(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("myonion-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ROOT.joinpath("containers").iterdir():
        for path in folder.rglob("*"):
            if path.is_file():
                rel = path.relative_to(ROOT / "containers").as_posix()
                assert f"myonion/containers/{rel}" in names, rel
    assert "myonion/cli/__init__.py" in names and "gui/__init__.py" in names
    # every module of the package: a .gitignore pattern ("build/") once left myonion/build/ out,
    # which an editable install never shows
    modules = {p.relative_to(ROOT).as_posix() for p in ROOT.joinpath("myonion").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sorted(modules - names) == []
    # the template schema is published with the package, with the validator made from it
    assert {"myonion/templates/template.schema.json", "myonion/templates/_validator.py"} <= names


def test_test_modules_have_unique_names() -> None:
    """pytest imports tests/ without packages: two test_x.py in different folders collide."""
    from collections import Counter

    root = Path(__file__).resolve().parents[1]
    names = Counter(p.name for p in root.rglob("test_*.py"))
    assert [n for n, count in names.items() if count > 1] == []
