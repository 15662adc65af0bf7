"""The fixed layout of DESIGN §3 (the compose file and the Dockerfile are checked in tests/test_compose.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_layout():
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md", "docker-compose.yml", "Dockerfile", "materializer",
                 "sql_macros", "dbt_project", "tests", "bench", ".ci/run"):
        assert (ROOT / name).exists(), f"{name} is missing (DESIGN §3)"
    assert (ROOT / "sql_macros" / "dbt_project.yml").exists()


def test_macro_package_is_a_dbt_package():
    project = yaml.safe_load((ROOT / "sql_macros" / "dbt_project.yml").read_text())
    assert project["name"] == "materializer"
    assert project["macro-paths"] == ["macros"]


def test_every_package_is_in_the_wheel():
    """pyproject lists packages explicitly (sql_macros is mapped in); a new folder must be listed too."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "materializer").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"


def test_packages_are_one_level_deep_and_say_what_they_hold():
    pkg = ROOT / "materializer"
    for init in pkg.rglob("__init__.py"):
        depth = len(init.parent.relative_to(pkg).parts)
        assert depth <= 1, f"{init.parent} nests packages more than one level deep"
        assert init.read_text().lstrip().startswith('"""'), f"{init} needs a docstring saying what it holds"


def test_the_validators_import_one_way():
    """validate imports monitors (and both import checks); monitors and checks never import validate."""
    defs = ROOT / "materializer" / "definitions"
    for name in ("monitors.py", "checks.py"):
        text = (defs / name).read_text()
        assert "definitions.validate" not in text, f"{name} imports validate: the dependency must run one way"
