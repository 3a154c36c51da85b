"""A deployment file names only files and folders beside it or below it (links resolved),
unless its user says --allow-outside: a file from elsewhere cannot make myonion read or share
what lies outside the folder it came in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from myonion import deploy
from myonion.cli import main

FILE = """version: 1
name: paths
services:
  web:
    template: site
    options: {{dir: {dir}}}
"""


def write(folder: Path, dir_value: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "myonion.yaml"
    path.write_text(FILE.format(dir=dir_value))
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    other = tmp_path / "elsewhere" / "documents"
    other.mkdir(parents=True)
    (other / "secret.txt").write_text("not for the onion\n")
    return other


@pytest.mark.parametrize("how", ["relative", "absolute", "link"])
def test_a_folder_outside_the_files_folder_is_refused(tmp_path: Path, outside: Path,
                                                      how: str) -> None:
    folder = tmp_path / "handed"
    if how == "link":
        folder.mkdir()
        os.symlink(outside, folder / "site")
        value = "./site"
    else:
        value = "../elsewhere/documents" if how == "relative" else str(outside)
    path = write(folder, value)
    with pytest.raises(deploy.DeploymentError, match="outside this file's folder") as error:
        deploy.load(path)
    assert f"{path}:6:" in str(error.value) and "--allow-outside" in str(error.value)
    loaded = deploy.load(path, allow_outside=True)  # the user's explicit yes
    assert loaded.services[0].options({})["dir"] == str(outside)


def test_folders_beside_the_file_are_fine(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    (folder / "site").mkdir(parents=True)
    deployment = deploy.load(write(folder, "./site"))
    assert deployment.services[0].options({})["dir"] == str(folder / "site")
    assert " --allow-outside" not in deploy.systemd_unit(deployment, "/usr/bin/myonion", {})


def test_the_cli_refuses_and_the_unit_remembers_a_yes(tmp_path: Path, outside: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    path = write(tmp_path / "handed", str(outside))
    assert main(["up", "-f", str(path), "--dry-run"]) == 1
    assert "outside this file's folder" in capsys.readouterr().err
    assert main(["service", "install", "-f", str(path), "--dry-run", "--allow-outside"]) == 0
    unit = capsys.readouterr().out
    assert f"up -f {path} --allow-outside" in unit
