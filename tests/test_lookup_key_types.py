"""Keys without a declared type (an external ``relation:`` source) are cast in lookups to the type the
database's catalog gives them, read once: Materialize answers from an index only when every key is
compared with a value of exactly its type (doc/user/content/transform-data/optimization.md)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import yaml

from materializer.definitions.validate import parse_project
from materializer.engines import get_engine
from materializer.features.online import catalog_key_types, lookup_sql, online_features, resolved_key_types
from materializer.serve import ServeSettings, create_app
from materializer.serve.database import ConnectionPool
from materializer.serve.lookup import OnlineLookup

# the external table's key columns and their types, as the test creates them
KEYS = {"k_big": "bigint", "k_uuid": "uuid", "k_date": "date", "k_text": "text", "k_mood": "mood"}
VIEWS = {f"by_{k.removeprefix('k_')}": [k] for k in KEYS} | {"by_pair": ["k_text", "k_big"]}
EXTERNAL = {
    "name": "external_keys",
    "engine": "postgres",
    "sources": {"events": {"relation": "raw.events", "timestamp": "ts"}},
    "feature_views": {name: {"source": "events", "entity": entity, "windows": ["1d"],
                             "features": {"n": {"agg": "count"}}} for name, entity in VIEWS.items()},
}
U1, U2, U3 = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
ROWS = [  # (k_big, k_uuid, k_date, k_text, k_mood, minutes ago)
    (2**40, U1, date(2026, 1, 1), "a", "happy", 5),
    (2**40, U1, date(2026, 1, 1), "a", "happy", 10),
    (2**41, U2, date(2026, 1, 2), "b", "sad", 15),
    (2**41, U3, date(2026, 1, 3), "a", "sad", 60 * 30),  # older than the 1d window
]
ABSENT = {"k_big": 9, "k_uuid": uuid.UUID(int=9), "k_date": date(2000, 1, 1), "k_text": "zz", "k_mood": "meh"}


def casts(sql: str) -> dict[str, str]:
    """{key column: the type its parameter is cast to} of a lookup's text ('' for an uncast key)."""
    return {k: t for k, t in re.findall(r"v\.(\w+) = (?:any\()?%s(?:::([a-z]+(?:\(\d+,\d+\))?))?", sql)}


def expected_count(key: dict) -> int:
    """Events of the key in the last day, counted here from ROWS."""
    columns = list(KEYS)
    return sum(1 for row in ROWS if row[5] < 24 * 60 and all(row[columns.index(k)] == v for k, v in key.items()))


@pytest.fixture
def external(make_project, pg_conn):
    pg_conn.execute("create schema raw")
    pg_conn.execute("create type mood as enum ('happy', 'sad', 'meh')")  # a type the catalog names USER-DEFINED
    pg_conn.execute("create table raw.events (k_big bigint, k_uuid uuid, k_date date, k_text text, k_mood mood, "
                    "ts timestamptz)")
    now = datetime.now(timezone.utc)
    for *values, ago in ROWS:
        pg_conn.execute("insert into raw.events values (%s, %s, %s, %s, %s, %s)",
                        [*values, now - timedelta(minutes=ago)])
    project = make_project(yaml.safe_dump(EXTERNAL))
    project.apply()
    return project


def keys_of(row: tuple, entity: list[str]) -> dict:
    return {k: row[list(KEYS).index(k)] for k in entity}


def test_undeclared_keys_are_cast_to_their_catalog_type_and_find_the_same_rows(external, pg_conn):
    project = external
    expected_casts = {"k_big": "bigint", "k_uuid": "uuid", "k_date": "date", "k_text": "text", "k_mood": ""}
    for name, entity in VIEWS.items():
        view = project.spec.feature_views[name]
        assert casts(lookup_sql(view, "postgres", None)) == {k: "" for k in entity}  # no catalog: uncast
        for row in [*ROWS, (*ABSENT.values(), 0)]:
            key = keys_of(row, entity)
            given = {k: str(v) for k, v in key.items()}  # as a command line gives them
            got = online_features(project, name, given).features["n_1d"]
            assert got == expected_count(key), (name, key)
            plain = pg_conn.execute(f"select coalesce(sum(n_1d), 0) from {name} where "
                                    + " and ".join(f"{k} = %s" for k in entity), list(key.values())).fetchone()[0]
            assert got == plain, (name, key)
        # the lookup that ran carries the casts, read from the catalog once
        ran = project._cache[("lookup", name, True)]
        assert casts(ran) == {k: expected_casts[k] for k in entity}, ran
        assert resolved_key_types(project, view) == {k: expected_casts[k] or None for k in entity}
        # the Materialize text of the same lookup, with the same catalog types
        mz = lookup_sql(view, "materialize", None, resolved_key_types(project, view))
        assert casts(mz) == {k: expected_casts[k] for k in entity}, mz


def test_the_catalog_is_read_once_per_project(external, pg_conn):
    project = external
    online_features(project, "by_uuid", {"k_uuid": str(U1)})
    queries = []
    original = project.db.conn.execute

    def spy(sql, *args, **kwargs):
        queries.append(sql)
        return original(sql, *args, **kwargs)

    project.db.conn.execute = spy
    try:
        for _ in range(3):
            assert online_features(project, "by_uuid", {"k_uuid": str(U2)}).features["n_1d"] == 1
    finally:
        del project.db.conn.execute
    assert not [q for q in queries if "information_schema" in q]
    assert len(queries) == 3


def test_serve_casts_undeclared_keys_and_answers_the_same_rows(external, pg_dsn):
    project = external
    lookup = OnlineLookup(project)
    pool = ConnectionPool(pg_dsn, get_engine("postgres"), "quickstart", size=2)

    async def run(features, entities):
        plan = lookup.plan(features, None, False)
        await lookup.resolve_key_types(pool, plan)
        count, checked = lookup.check_entities(plan, entities)
        return (await lookup.read(pool, plan, count, checked))[1]

    async def main():
        try:
            for name, entity in VIEWS.items():
                rows = [*ROWS, (*ABSENT.values(), 0)]
                entities = {k: [str(row[list(KEYS).index(k)]) for row in rows] for k in entity}
                out = await run([f"{name}:n_1d"], entities)
                assert [v for v, _, _ in out["n_1d"]] == [expected_count(keys_of(r, entity)) for r in rows], name
                sql = lookup._sql[(name, 0)]
                assert casts(sql) == {k: {"k_mood": ""}.get(k, KEYS[k]) for k in entity}, sql
        finally:
            await pool.close()

    asyncio.run(main())
    # over HTTP, the same answers
    from starlette.testclient import TestClient

    with TestClient(create_app(project, ServeSettings(), dsn=pg_dsn)) as client:
        body = {"features": ["by_pair:n_1d", "by_uuid:n_1d"], "full_feature_names": True,
                "entities": {"k_text": ["a", "b", "zz"], "k_big": [2**40, 2**41, 2**41],
                             "k_uuid": [str(U1), str(U2), str(U3)]}}
        answer = client.post("/get-online-features", json=body).json()
        values = {name: r["values"] for name, r in zip(answer["metadata"]["feature_names"], answer["results"])}
        assert values["by_pair__n_1d"] == [2, 1, 0], answer
        assert values["by_uuid__n_1d"] == [2, 1, 0], answer
        # a query string's text, read as the catalog's bigint and date (as text they matched no row)
        assert client.get(f"/features/by_big?k_big={2**40}").json()["features"]["n_1d"] == 2
        assert client.get("/features/by_date?k_date=2026-01-02").json()["features"]["n_1d"] == 1


@pytest.mark.parametrize(("engine", "rows", "expected"), [
    # RisingWave stores uuid as varchar and reads text as character varying (its one string type)
    ("risingwave", [("k", "character varying", None, None)], {"k": "text"}),
    ("risingwave", [("k", "bigint", None, None)], {"k": "bigint"}),
    # the catalog has no precision there: numeric(12,2) cannot be told from numeric, so no cast
    ("risingwave", [("k", "numeric", None, None)], {"k": None}),
    ("materialize", [("k", "numeric", None, None)], {"k": None}),
    # Materialize's varchar is not its text: a text cast would miss the index
    ("materialize", [("k", "character varying", None, None)], {"k": None}),
    ("materialize", [("k", "text", None, None)], {"k": "text"}),
    ("materialize", [("k", "uuid", None, None)], {"k": "uuid"}),
    ("postgres", [("k", "numeric", 12, 2)], {"k": "numeric(12,2)"}),
    ("postgres", [("k", "ARRAY", None, None)], {"k": None}),
    ("postgres", [("other", "bigint", None, None)], {"k": None}),  # the key is not in the relation
])
def test_catalog_rows_become_casts_only_for_exact_types(engine, rows, expected):
    spec = parse_project({**EXTERNAL, "engine": engine, "feature_views": {
        "v": {"source": "events", "entity": ["k"], "windows": ["1d"], "features": {"n": {"agg": "count"}}}}})
    view = spec.feature_views["v"]
    assert catalog_key_types(view, get_engine(engine), [rows, []]) == expected
    assert catalog_key_types(view, get_engine(engine), [[], []]) is None  # nothing applied yet
    cast = expected["k"]
    sql = lookup_sql(view, engine, None, expected)
    assert casts(sql) == {"k": get_engine(engine).ddl_type(cast) if cast else ""}, sql


# what the streaming engines' catalogs answer for a column of every type (tests/engine_catalogs.py), and
# the cast each becomes: the type the column has on the engine, or none where the catalog cannot tell it
ENGINE_CASTS = {
    "risingwave": {"c_text": "text", "c_smallint": "smallint", "c_integer": "integer", "c_bigint": "bigint",
                   "c_numeric": None, "c_money": None, "c_real": "real", "c_double": "double precision",
                   "c_boolean": "boolean", "c_ts": "timestamptz", "c_local": "timestamp", "c_date": "date",
                   "c_json": "jsonb", "c_uuid": "text"},
    "materialize": {"c_text": "text", "c_smallint": "smallint", "c_integer": "integer", "c_bigint": "bigint",
                    "c_numeric": None, "c_money": None, "c_real": "real", "c_double": "double precision",
                    "c_boolean": "boolean", "c_ts": "timestamptz", "c_local": "timestamp", "c_date": "date",
                    "c_json": "jsonb", "c_uuid": "uuid"},
}


@pytest.mark.parametrize("engine", list(ENGINE_CASTS))
def test_the_engines_catalog_rows_become_their_own_types(engine):
    from tests.engine_catalogs import CATALOG_ROWS

    columns = list(ENGINE_CASTS[engine])
    spec = parse_project({**EXTERNAL, "engine": engine, "feature_views": {
        "v": {"source": "events", "entity": columns, "windows": ["1d"], "features": {"n": {"agg": "count"}}}}})
    view = spec.feature_views["v"]
    assert catalog_key_types(view, get_engine(engine), [[], CATALOG_ROWS[engine]]) == ENGINE_CASTS[engine]
