"""Names in the generated SQL: key words, and PostgreSQL's 63-byte limit on every name it creates.

Names go into the SQL unquoted, and PostgreSQL silently cuts a name to 63 bytes, so validation
refuses a project that would make a name the server reads differently from what we wrote.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from materializer.definitions import keywords
from materializer.features import training

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- key words


def _server_keywords(conn) -> dict[str, set[str]]:
    rows = conn.execute("select word, catcode from pg_get_keywords()").fetchall()
    return {cat: {w for w, c in rows if c == cat} for cat in "RTCU"}


def test_the_reserved_words_are_the_running_servers(pg_conn) -> None:
    """The embedded lists are PostgreSQL's reserved (R) and type-or-function (T) words; this fails when a
    new PostgreSQL reserves another word, so the list cannot fall behind."""
    server = _server_keywords(pg_conn)
    assert keywords.POSTGRES_RESERVED == server["R"]
    assert keywords.POSTGRES_RESERVED_TYPE_OR_FUNCTION == server["T"]
    # the streaming engines' extra words are names to PostgreSQL (else they would be in the lists above)
    assert not set(keywords.STREAMING_RESERVED) & (server["R"] | server["T"])


@pytest.mark.parametrize("word", ["left", "like", "authorization"])
def test_a_reserved_word_breaks_the_generated_sql(pg_conn, word: str) -> None:
    """Why they are refused: the DDL apply would run is a syntax error."""
    import psycopg

    pg_conn.execute("create table t (k text)")
    with pytest.raises(psycopg.errors.SyntaxError):
        pg_conn.execute(f"select k, max({word}) as x from t group by k")


def test_col_name_words_work_as_names_on_postgres(make_project, pg_conn) -> None:
    """PostgreSQL's col_name words (C) that validation accepts work as columns, entity keys, timestamps,
    features, filters and tie-breaks: apply, online lookups and training sets (both forms) read them."""
    words = sorted(_server_keywords(pg_conn)["C"] - set(keywords.STREAMING_RESERVED))
    assert "time" in words and "values" in words
    key, ts, tie, *columns = words
    text = f"""
sources:
  s:
    columns: {{{key}: text, {ts}: timestamptz, {tie}: integer, {', '.join(f'{c}: numeric' for c in columns)}}}
    timestamp: {ts}
feature_views:
  windowed:
    source: s
    entity: [{key}]
    windows: [1h, 1d]
    features:
{chr(10).join(f'      {c}: {{agg: max, column: {c}, filter: "{c} > 0 and {key} is not null"}}' for c in columns)}
  latest:
    source: s
    entity: [{key}]
    tie_break: {tie}
    max_age: 1d
    features:
{chr(10).join(f'      {c}: {{agg: latest, column: {c}}}' for c in columns)}
"""
    project = make_project(text)
    project.apply()
    values = ", ".join(str(i + 1) for i in range(len(columns)))
    pg_conn.execute(f"insert into s values ('a', %s, 1, {values})", [T0])
    at = T0 + timedelta(minutes=5)
    for view in ("windowed", "latest"):
        result = project.online_features(view, {key: "a"}, as_of=at)
        assert set(result.statuses.values()) == {"PRESENT"}, (view, result.statuses)
        for method in ("frames", "probes"):
            training.WINDOWED_METHOD = method
            try:
                frame = project.training_set(pd.DataFrame({key: ["a"], "event_timestamp": [at.isoformat()]}),
                                             [f"{view}:*"])
            finally:
                training.WINDOWED_METHOD = None
            assert frame.iloc[0].notna().all(), (view, method)
