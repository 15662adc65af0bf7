"""`materializer demo` runs end to end, ends on its own and leaves live data behind."""

from __future__ import annotations

import psycopg
from typer.testing import CliRunner

from materializer.cli import app


def test_demo_streams_and_ends_on_its_own(cli_env, pg_dsn):
    result = CliRunner().invoke(app, ["demo", "--duration", "1.5", "--rate", "40", "--dir", "demo"])
    assert result.exit_code == 0, result.output
    output = result.output
    assert "live features" in output and "4111-0000" in output
    assert "Try next" in output and "materializer features card_activity" in output
    with psycopg.connect(pg_dsn) as conn:
        total = conn.execute("select count(*) from transactions").fetchone()[0]
        recent = conn.execute("select count(*) from transactions where ts > now() - interval '1 minute'").fetchone()[0]
        hot = conn.execute("select tx_count_1h from card_activity where cc_num = '4111-0000'").fetchone()[0]
    assert total >= 3000 + 20, "history plus streamed transactions"
    assert recent >= 20, "transactions were streamed during the run"
    assert hot > 0
    assert (cli_env / "demo" / "materializer.yml").exists()


def test_demo_twice_in_one_folder_reuses_its_data(cli_env, pg_dsn):
    args = ["demo", "--duration", "0.5", "--rate", "20", "--dir", "demo"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "loaded 3000 transactions" in first.output and "reusing" not in first.output

    def counts():
        with psycopg.connect(pg_dsn) as conn:
            return {t: conn.execute(f"select count(*) from {t}").fetchone()[0]
                    for t in ("transactions", "predictions", "chargebacks")}

    before = counts()
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "reusing the data of an earlier run at " in second.output and "nothing loaded twice" in second.output
    assert f"{before['transactions']} transactions, {before['predictions']} predictions" in second.output
    after = counts()
    assert after["predictions"] == before["predictions"] and after["chargebacks"] == before["chargebacks"]
    assert before["transactions"] < after["transactions"] < before["transactions"] + 1000, "only the streamed rows"
