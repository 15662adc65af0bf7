"""The fixed layout of DESIGN §3 and the compose file (validated against the Compose Specification schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT.parent / "shared" / "data" / "compose-spec.schema.json"


def test_top_level_layout():
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md", "docker-compose.yml", "materializer",
                 "sql_macros", "dbt_project", "tests", "bench", ".ci/run"):
        assert (ROOT / name).exists(), f"{name} is missing (DESIGN §3)"
    assert (ROOT / "sql_macros" / "dbt_project.yml").exists()


def test_compose_file_is_valid_and_has_the_engines():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"materialize", "risingwave", "redpanda"} <= set(compose["services"])
    for service in compose["services"].values():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"pin the image tag of {image}"
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} is not beside the project")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_macro_package_is_a_dbt_package():
    project = yaml.safe_load((ROOT / "sql_macros" / "dbt_project.yml").read_text())
    assert project["name"] == "materializer"
    assert project["macro-paths"] == ["macros"]
