"""The database fixtures themselves: each test's database is real, empty and its own.

The two leak tests run in file order: the first leaves connections open (one of
them mid-transaction, holding a lock), the second checks that they were ended,
that the first test's database is gone and that its own is empty.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import conninfo

leaked: list[psycopg.Connection] = []
previous: list[str] = []


def user_objects(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' "
        "union all select 'schema ' || nspname from pg_namespace "
        "where nspname not like 'pg\\_%%' and nspname not in ('information_schema', 'public') "
        "union all select 'function ' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname not in ('pg_catalog', 'information_schema') "
        "union all select 'extension ' || extname from pg_extension where extname <> 'plpgsql'"
    ).fetchall()
    return [r[0] for r in rows]


def test_the_database_is_empty_and_the_connection_as_promised(pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    assert user_objects(pg_conn) == []
    assert pg_conn.autocommit
    assert pg_conn.execute("show timezone").fetchone()[0] == "UTC"
    name, is_template = pg_conn.execute(
        "select datname, datistemplate from pg_database where datname = current_database()").fetchone()
    assert not is_template
    with psycopg.connect(pg_dsn) as other:
        assert other.execute("select current_database()").fetchone()[0] == name


def test_the_template_is_a_copy_of_template1(pg_conn: psycopg.Connection, pg_noproc) -> None:
    """Nothing is loaded into the template: a test's database is what `create database` gives."""
    templates = dict(pg_conn.execute("select datname, datistemplate from pg_database").fetchall())
    assert templates[pg_noproc.template_dbname] is True
    for database in ("template1", pg_noproc.template_dbname):
        params = conninfo.conninfo_to_dict(pg_conn.info.dsn) | {"dbname": database}
        with psycopg.connect(**params) as conn:
            assert user_objects(conn) == []


def test_leaving_connections_open(pg_dsn: str, pg_conn: psycopg.Connection) -> None:
    pg_conn.execute("create table left_behind (id int)")
    busy = psycopg.connect(pg_dsn)
    busy.execute("lock table left_behind in access exclusive mode")  # and the transaction stays open
    idle = psycopg.connect(pg_dsn, autocommit=True)
    idle.execute("select 1")
    leaked.extend([busy, idle])
    previous.append(pg_dsn)


def test_the_next_test_is_not_affected(pg_conn: psycopg.Connection, pg_dsn: str) -> None:
    assert user_objects(pg_conn) == []
    assert pg_conn.execute("select count(*) from pg_stat_activity "
                           "where datname = current_database() and pid <> pg_backend_pid()").fetchone()[0] == 0
    for conn in leaked:  # ended by the janitor
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")
        conn.close()
    for dsn in previous:  # dropped: a client that reconnects finds nothing, least of all this test's database
        assert dsn != pg_dsn
        with pytest.raises(psycopg.OperationalError, match="does not exist"):
            psycopg.connect(dsn).close()
