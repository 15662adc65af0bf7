"""Change feeds (materializer/serve/changes.py).

The Materialize and RisingWave parsers are fed the rows those engines send, in the shapes their docs
show (doc/user/content/sql/subscribe.md: ENVELOPE UPSERT with PROGRESS; risingwave-docs
serve/subscription.mdx and risingwave e2e_test/subscription/main.py: subscription cursor rows), and the
snapshot after each complete timestamp is compared with one written out by hand. The PostgreSQL feed
runs on the real PostgreSQL: a write to a monitor's managed source wakes it once its transaction
commits, the follower reconnects when its connection is killed, and cancelling it ends its session.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from materializer.cli import app as cli
from materializer.serve.changes import (
    APPLICATION,
    ChangelogParser,
    FeedError,
    Follower,
    PostgresNotifyFeed,
    UpsertParser,
    feed_for,
    feed_statements,
)

MZ_COLUMNS = ["mz_timestamp", "mz_progressed", "mz_state", "key", "value"]


def progress(ts):
    """A progress row: "Each progress row will have a NULL key and a NULL value"."""
    return (ts, True, None, None, None)


def upsert(ts, key, value):
    return (ts, False, "upsert", key, value)


def delete(ts, key):
    return (ts, False, "delete", key, None)


def states(batches):
    """(timestamp, {key: value}) of each batch."""
    return [(b.timestamp, {k[0]: v["value"] for k, v in b.snapshot.items()}) for b in batches]


def test_materialize_upsert_rows_of_the_docs():
    parser = UpsertParser(MZ_COLUMNS, ["key"])
    # the first row is a progress message at the AS OF time; the snapshot comes at that time
    assert parser.feed([progress(100), upsert(100, 1, 2), upsert(100, 2, 4)]) == []  # 100 is not complete yet
    assert states(parser.feed([progress(200)])) == [(100, {1: 2, 2: 4})]
    # "at time 200, add a new row with key=3, value=6"; "at time 300, update key=1's value to 10"
    first = parser.feed([upsert(200, 3, 6), upsert(300, 1, 10)])  # the row at 300 completes 200
    assert states(first) == [(200, {1: 2, 2: 4, 3: 6})]
    assert first[0].changes == [((3,), {"value": 6})]
    # "at time 400, delete all rows": 300 completes on the first delete, 400 on the progress row
    second = parser.feed([delete(400, 1), delete(400, 2)])
    assert states(second) == [(300, {1: 10, 2: 4, 3: 6})]
    third = parser.feed([delete(400, 3), progress(401)])  # the rest of 400 in a later FETCH: one batch
    assert states(third) == [(400, {})]
    assert third[0].changes == [((1,), None), ((2,), None), ((3,), None)]
    assert parser.feed([progress(402), progress(500)]) == []  # time passes, nothing changed: nothing sent
    with pytest.raises(FeedError, match="more than one row for the key"):
        parser.feed([(500, False, "key_violation", 1, None)])


def test_materialize_progress_example_of_the_docs():
    """"Not all timestamps that appear will have a corresponding row with mz_progressed set to true":
    the update at 2 completes 1, the one at 3 completes 2, the progress row at 4 completes 3."""
    parser = UpsertParser(MZ_COLUMNS, ["key"])
    batches = parser.feed([upsert(1, "a", "data"), upsert(2, "b", "more data"), upsert(3, "c", "even more data")])
    assert states(batches) == [(1, {"a": "data"}), (2, {"a": "data", "b": "more data"})]
    assert states(parser.feed([progress(4)])) == [(3, {"a": "data", "b": "more data", "c": "even more data"})]


def test_materialize_metrics_view_rows_never_half_a_timestamp():
    """The feed's own shape: key (window_name, slice, slice_value) then the metric columns, mz_timestamp a
    numeric (psycopg gives a Decimal); a FETCH that ends inside a timestamp sends nothing of it."""
    columns = ["mz_timestamp", "mz_progressed", "mz_state", "window_name", "slice", "slice_value", "n", "accuracy"]
    parser = UpsertParser(columns, ["window_name", "slice", "slice_value"])
    t0, t1 = Decimal(1764590000000), Decimal(1764590001000)
    assert parser.feed([(t0, True, None, None, None, None, None, None),
                        (t0, False, "upsert", "1d", "all", "all", 10, 0.9),
                        (t0, False, "upsert", "7d", "all", "all", 50, 0.8)]) == []
    snap = parser.feed([(t1, True, None, None, None, None, None, None)])
    assert [b.snapshot for b in snap] == [{("1d", "all", "all"): {"n": 10, "accuracy": 0.9},
                                           ("7d", "all", "all"): {"n": 50, "accuracy": 0.8}}]
    assert parser.feed([(t1, False, "upsert", "1d", "all", "all", 11, 0.8)]) == []  # half of t1
    done = parser.feed([(t1, False, "upsert", "7d", "all", "all", 51, 0.79),
                        (t1 + 1000, True, None, None, None, None, None, None)])
    assert [(b.timestamp, b.snapshot) for b in done] == [(t1, {("1d", "all", "all"): {"n": 11, "accuracy": 0.8},
                                                               ("7d", "all", "all"): {"n": 51, "accuracy": 0.79}})]
    with pytest.raises(FeedError, match="before the complete time"):
        parser.feed([(t0, False, "upsert", "1d", "all", "all", 1, 1.0)])


def test_materialize_parser_refuses_other_shapes():
    with pytest.raises(FeedError, match="starts with mz_timestamp"):
        UpsertParser(["mz_timestamp", "mz_diff", "key", "value"], ["key"])  # no PROGRESS, no envelope
    with pytest.raises(FeedError, match="do not follow mz_state"):
        UpsertParser(MZ_COLUMNS, ["value"])


RW_COLUMNS = ["t1.v1", "t1.v2", "t1.v3", "t1.op", "rw_timestamp"]


def rw_states(batches):
    return [(b.timestamp, {k: (v["v2"], v["v3"]) for k, v in b.snapshot.items()}) for b in batches]


def test_risingwave_cursor_rows_of_the_docs():
    """serve/subscription.mdx "Examples": a FULL cursor's snapshot row (no rw_timestamp), then an UPDATE as
    UpdateDelete + UpdateInsert at one rw_timestamp."""
    parser = ChangelogParser(RW_COLUMNS, ["v1"])
    assert parser.feed([(1, 1, 1, "Insert", None)]) == []
    assert rw_states(parser.caught_up()) == [(None, {(1,): (1, 1)})]  # the snapshot, complete
    assert parser.feed([(1, 1, 1, "UpdateDelete", 1715669376304)]) == []  # "fetch next": one row at a time
    assert parser.feed([(1, 1, 10, "UpdateInsert", 1715669376304)]) == []
    assert rw_states(parser.caught_up()) == [(1715669376304, {(1,): (1, 10)})]
    # a delete, then an insert at a later time: the later row completes the delete's timestamp
    done = parser.feed([(1, 1, 10, "Delete", 1715669377000), (2, 5, 5, "Insert", 1715669378000)])
    assert rw_states(done) == [(1715669377000, {})]
    assert rw_states(parser.caught_up()) == [(1715669378000, {(2,): (5, 5)})]
    assert parser.caught_up() == []


def test_risingwave_numeric_ops_of_older_versions():
    """e2e_test/subscription/main.py (test_cursor_op): insert 1, UPDATE as 4 then 3, DELETE 2; the
    columns are unqualified there (`(1, 'Alice', 30, 1, 1716434906890)` in the docs' driver example)."""
    parser = ChangelogParser(["v1", "v2", "op", "rw_timestamp"], ["v1"])
    batches = parser.feed([(4, 4, 1, 10), (4, 4, 4, 11), (4, 10, 3, 11), (4, 10, 2, 12)])
    assert [(b.timestamp, {k: v["v2"] for k, v in b.snapshot.items()}) for b in batches] == [
        (10, {(4,): 4}), (11, {(4,): 10})]
    assert [(b.timestamp, b.snapshot) for b in parser.caught_up()] == [(12, {})]
    with pytest.raises(FeedError, match="unknown op"):
        parser.feed([(1, 1, "Upsert", 13)])
    with pytest.raises(FeedError, match="ends with op, rw_timestamp"):
        ChangelogParser(["v1", "rw_timestamp"], ["v1"])


# ---------------------------------------------------------------- PostgreSQL, for real


@pytest.fixture
def fraud_project(cli_env, pg_dsn):
    """`materializer init`'s project applied: its monitor is maintained by triggers on two managed tables."""
    from materializer.project import Project

    runner = CliRunner()
    assert runner.invoke(cli, ["init", "fraud"]).exit_code == 0
    folder = cli_env / "fraud"
    result = runner.invoke(cli, ["--project", str(folder), "apply"])
    assert result.exit_code == 0, result.output
    project = Project.load(folder, dsn=pg_dsn)
    try:
        yield project
    finally:
        project.close()


def feed_sessions(conn) -> int:
    return conn.execute("select count(*) from pg_stat_activity where application_name = %s",
                        [APPLICATION]).fetchone()[0]


def test_postgres_feed_wakes_on_commit_reconnects_and_closes(fraud_project, pg_dsn):
    from materializer.engines import get_engine

    project = fraud_project
    engine = get_engine("postgres")
    monitor = project.spec.monitors["fraud_model"]
    assert feed_statements(monitor, engine, project.spec.cluster)[-1] == ("listen materializer_changes", False)
    feed = feed_for(monitor, pg_dsn, engine, project.spec.cluster)
    assert isinstance(feed, PostgresNotifyFeed)
    conn = project.db.conn

    async def scenario() -> list[str]:
        seen: list[str] = []
        woken = asyncio.Event()

        def wake() -> None:
            woken.set()

        follower = Follower(feed, wake, max_backoff=0.5)
        task = asyncio.create_task(follower.run())
        for _ in range(100):  # connected: the first wake is the feed opening
            if follower.live:
                break
            await asyncio.sleep(0.05)
        assert follower.live and woken.is_set()
        woken.clear()
        seen.append(f"sessions {feed_sessions(conn)}")

        # a write in an open transaction wakes nobody; its commit does, once
        with conn.transaction():
            conn.execute("insert into predictions (tx_id, predicted_at, score, model_version, channel) "
                         "values ('t-1', now(), 0.9, 'v1', 'app'), ('t-2', now(), 0.1, 'v1', 'web')")
            await asyncio.sleep(0.3)
            seen.append(f"before commit {woken.is_set()}")
        started = time.monotonic()
        await asyncio.wait_for(woken.wait(), 5)
        seen.append(f"after commit {time.monotonic() - started < 2}")
        await asyncio.sleep(0.2)
        seen.append(f"batches {follower.batches}")

        # another table's write (not a source of the monitor) wakes nobody
        woken.clear()
        conn.execute("insert into transactions (tx_id, cc_num, merchant, amount, status, ts) "
                     "values ('x-1', '4111', 'm', 1, 'ok', now())")
        await asyncio.sleep(0.5)
        seen.append(f"other table {woken.is_set()}")

        # the feed's session is killed (as a database restart would): it connects again and wakes the reader
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where application_name = %s",
                     [APPLICATION])
        for _ in range(100):
            await asyncio.sleep(0.05)
            if follower.failures and follower.live:
                break
        seen.append(f"reconnected {follower.failures >= 1 and follower.live}")
        woken.clear()
        conn.execute("insert into chargebacks (tx_id, reported_at, is_fraud) values ('t-1', now(), 1)")
        await asyncio.wait_for(woken.wait(), 5)
        seen.append("woken again")

        task.cancel()  # the client left: the feed's connection is closed, its LISTEN with it
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if feed_sessions(conn) == 0:
                break
            await asyncio.sleep(0.05)
        seen.append(f"sessions {feed_sessions(conn)}")
        return seen

    assert asyncio.run(scenario()) == ["sessions 1", "before commit False", "after commit True", "batches 1",
                                       "other table False", "reconnected True", "woken again", "sessions 0"]


def test_no_feed_for_a_monitor_over_an_external_relation(make_project, pg_dsn):
    import yaml

    from materializer.definitions.validate import parse_project
    from materializer.engines import get_engine

    spec = parse_project(yaml.safe_load("""
name: ext
sources:
  predictions: {relation: public.ext_predictions, timestamp: predicted_at}
  outcomes: {columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}, timestamp: reported_at}
monitors:
  m:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score}
    outcomes: {source: outcomes, id: tx_id, timestamp: reported_at, label: is_fraud}
    windows: [1d]
    bucket: 1h
"""))
    m = spec.monitors["m"]
    assert feed_for(m, pg_dsn, get_engine("postgres"), spec.cluster) is None
    assert feed_for(m, pg_dsn, get_engine("materialize"), spec.cluster) is not None
    assert feed_for(m, pg_dsn, get_engine("risingwave"), spec.cluster) is not None


def test_the_postgres_feed_sends_what_sequences_models(fraud_project, pg_dsn, monkeypatch):
    """db/sequences.py models serve's feed for `materializer lint`; the feed sends exactly that."""
    import psycopg

    from materializer.db.sequences import serve_runs
    from materializer.engines import get_engine

    sent: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def recording(self, query, *args, **kwargs):
        sent.append(query if isinstance(query, str) else str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", recording)
    spec = fraud_project.spec
    feed = feed_for(spec.monitors["fraud_model"], pg_dsn, get_engine("postgres"), spec.cluster)

    async def follow() -> None:
        async for _ in feed.batches():
            return

    async def scenario() -> None:
        task = asyncio.create_task(follow())
        await asyncio.sleep(0.5)
        fraud_project.db.conn.execute("insert into chargebacks (tx_id, reported_at, is_fraud) values ('x', now(), 1)")
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    modeled = [s for run in serve_runs(spec, "postgres") for unit in run.units for s in unit.statements]
    setup = get_engine("postgres").session_setup(spec.cluster)
    assert modeled == [*setup, "listen materializer_changes"] and sent == modeled
