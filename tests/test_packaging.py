"""pyproject.toml lists every package, and passes/ and targets/ install only as leptonc.*."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _packages_on_disk() -> set[str]:
    mapping = {v: k for k, v in _setuptools_config()["package-dir"].items()}
    found = set()
    for folder, package in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    return found


def test_every_package_is_listed():
    assert set(_setuptools_config()["packages"]) == _packages_on_disk()


def test_passes_and_targets_install_under_leptonc_only():
    package_dir = _setuptools_config()["package-dir"]
    assert package_dir["leptonc.passes"] == "passes"
    assert package_dir["leptonc.targets"] == "targets"
    assert not any(p.split(".")[0] in ("passes", "targets") for p in _setuptools_config()["packages"])
