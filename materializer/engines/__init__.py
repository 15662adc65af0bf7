"""Engines: what differs between PostgreSQL, Materialize and RisingWave outside the macros.

One module per engine, each a subclass of :class:`Engine` overriding only what
differs (DDL verbs, capabilities, connection options), in the manner of
sqlglot's dialects.
"""

from __future__ import annotations

from materializer.engines.base import Engine
from materializer.engines.materialize import Materialize
from materializer.engines.postgres import Postgres
from materializer.engines.risingwave import RisingWave
from materializer.errors import MaterializerError, did_you_mean

ENGINES: dict[str, type[Engine]] = {e.name: e for e in (Postgres, Materialize, RisingWave)}


def get_engine(name: str) -> Engine:
    """The engine called ``name`` (postgres, materialize or risingwave)."""
    try:
        return ENGINES[name]()
    except KeyError:
        raise MaterializerError(
            f"unknown engine {name!r}{did_you_mean(name, ENGINES)}; use one of {', '.join(ENGINES)}"
        ) from None


__all__ = ["ENGINES", "Engine", "get_engine"]
