"""setup.cfg lists every package on disk (a forgotten subpackage would only show up after pip install)."""

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _listed() -> tuple[set[str], dict[str, str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    packages = {p.strip() for p in config["options"]["packages"].split() if p.strip()}
    dirs = dict(line.split("=") for line in config["options"]["package_dir"].strip().splitlines())
    return packages, {k.strip(): v.strip() for k, v in dirs.items()}


def _on_disk(package_dir: dict[str, str]) -> set[str]:
    found = set()
    for name, folder in package_dir.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            if "__pycache__" not in parts:
                found.add(".".join((name, *parts)))
    return found


def test_setup_cfg_lists_exactly_the_packages_on_disk():
    listed, package_dir = _listed()
    assert listed == _on_disk(package_dir), "setup.cfg [options] packages must list every package folder, and only those"


def test_the_check_sees_a_missing_subpackage():
    listed, package_dir = _listed()
    assert "spirograph.generators.spirograph" in _on_disk(package_dir)
    assert listed - {"spirograph.generators.spirograph"} != _on_disk(package_dir)
