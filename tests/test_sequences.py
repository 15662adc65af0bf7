"""The model of what each command sends (materializer/db/sequences.py, which ``materializer lint``
checks) is what the commands send: apply, push, reference and training-set run on the real PostgreSQL
with every statement and transaction block recorded, and the record is compared with the model."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from materializer.db.sequences import CommandRun, Unit, apply_run, push_run, reference_run, training_set_run
from materializer.demo.scaffold import scaffold
from materializer.project import Project
from materializer.sql.lint import _command


class Recorder:
    """Statements sent through psycopg, grouped into units as db/sequences.py models them."""

    def __init__(self) -> None:
        self.units: list[Unit] = []
        self.block: list[str] | None = None
        self.depth = 0
        self.on = False

    def statement(self, sql: object) -> None:
        if not self.on:
            return
        text = sql if isinstance(sql, str) else sql.as_string(None) if hasattr(sql, "as_string") else str(sql)
        if self.block is not None:
            self.block.append(text)
        else:
            self.units.append(Unit((text,), False))

    @contextlib.contextmanager
    def recording(self) -> Iterator[Recorder]:
        self.units, self.on = [], True
        try:
            yield self
        finally:
            self.on = False


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    execute, executemany, copy, transaction = (psycopg.Cursor.execute, psycopg.Cursor.executemany,
                                               psycopg.Cursor.copy, psycopg.Connection.transaction)

    def rec_execute(self, query, *args, **kwargs):
        rec.statement(query)
        return execute(self, query, *args, **kwargs)

    def rec_executemany(self, query, params_seq, *args, **kwargs):
        rec.statement(query)  # one modeled statement, sent once per row
        return executemany(self, query, params_seq, *args, **kwargs)

    def rec_copy(self, statement, *args, **kwargs):
        rec.statement(statement)
        return copy(self, statement, *args, **kwargs)

    @contextlib.contextmanager
    def rec_transaction(self, *args, **kwargs):
        outer = rec.on and rec.depth == 0
        if outer:
            rec.block = []
        rec.depth += 1
        try:
            with transaction(self, *args, **kwargs) as tx:
                yield tx
        finally:
            rec.depth -= 1
            if outer and rec.block is not None:
                if rec.block:
                    rec.units.append(Unit(tuple(rec.block), True))
                rec.block = None

    monkeypatch.setattr(psycopg.Cursor, "execute", rec_execute)
    monkeypatch.setattr(psycopg.Cursor, "executemany", rec_executemany)
    monkeypatch.setattr(psycopg.Cursor, "copy", rec_copy)
    monkeypatch.setattr(psycopg.Connection, "transaction", rec_transaction)
    return rec


@pytest.fixture
def project(tmp_path: Path, pg_dsn: str, pg_conn: psycopg.Connection) -> Iterator[Project]:
    """The init project, its monitor given a reference relation that exists."""
    scaffold(tmp_path)
    doc = yaml.safe_load((tmp_path / "materializer.yml").read_text())
    doc["monitors"]["fraud_model"]["reference"] = {"relation": "training_scores", "column": "score"}
    (tmp_path / "materializer.yml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    pg_conn.execute("create table training_scores (score double precision)")
    pg_conn.execute("insert into training_scores select g / 100.0 from generate_series(0, 99) as g")
    p = Project.load(tmp_path, dsn=pg_dsn)
    assert p.db.conn is not None  # connected (and its session set up) before anything is recorded
    yield p
    p.close()


def _writes(units: list[Unit]) -> list[str]:
    return [" ".join(s.split()) for u in units for s in u.statements if _command(s)[0] not in ("read", "set")]


def test_apply(project: Project, recorder: Recorder):
    with recorder.recording() as rec:
        project.apply()
    model = apply_run(project.spec, "postgres")
    assert [u.block for u in rec.units] == [u.block for u in model.units] == [True]
    # the same statements; the order differs (apply orders its actions by kind), which no rule reads
    # on PostgreSQL, and the streaming engines run each statement alone
    assert Counter(_writes(rec.units)) == Counter(_writes(list(model.units)))


def test_push_reference_and_training_set(project: Project, recorder: Recorder, tmp_path: Path):
    project.apply()
    spec = project.spec
    for source in ("transactions", "predictions", "chargebacks"):
        with recorder.recording() as rec:
            project.push(source, tmp_path / "data" / f"{source}.csv")
        header = (tmp_path / "data" / f"{source}.csv").read_text().splitlines()[0].split(",")
        assert header == list(spec.sources[source].columns), "the model pushes every column, in order"
        assert rec.units == list(push_run(spec, "postgres", source).units)

    with recorder.recording() as rec:
        project.store_reference("fraud_model")
    assert rec.units == list(reference_run(spec, "postgres", "fraud_model").units)

    with recorder.recording() as rec:
        project.write_training_set(tmp_path / "data" / "spine.csv", ["card_activity:tx_count_1h"],
                                   out=tmp_path / "out.csv")
    model: CommandRun = training_set_run(spec, "postgres")
    kinds = {_command(s)[0] for u in model.units[:-1] for s in u.statements}
    assert all(not u.block for u in rec.units[:-1]) and {_command(s)[0] for u in rec.units[:-1]
                                                          for s in u.statements} <= kinds
    last = rec.units[-1]
    assert last.block and [_command(s)[0] for s in last.statements] == ["copy-to"] == [
        _command(s)[0] for s in model.units[-1].statements]
