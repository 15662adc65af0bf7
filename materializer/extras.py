"""Optional packages (the extras of ``pyproject.toml``): imported on use, or a one-line error naming
the extra to install."""

from __future__ import annotations

import importlib
from typing import Any

from materializer.errors import MaterializerError

# module -> the extra that installs it
EXTRAS = {"pandas": "parquet", "pyarrow": "parquet", "sqlglot": "lint", "sqlfluff": "lint", "confluent_kafka": "kafka"}


class MissingExtra(MaterializerError):
    """An optional package is not installed."""


def optional(module: str, needed_for: str) -> Any:
    """``import module``, or a MissingExtra saying what needs it and which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module)
        install = f'pip install "materializer[{extra}]"' if extra else f"pip install {module}"
        raise MissingExtra(f"{needed_for} needs {module}, which is not installed; {install}") from None
