"""``materializer demo``: the fraud example, streamed live on the embedded PostgreSQL.

It creates the example project, applies it, loads three hours of transactions and
16 days of model predictions with their chargebacks, then for ``duration``
seconds inserts fresh transactions and shows the features of a few cards
updating in the terminal. Beside them, the fraud model's quality is replayed over
the last week on a simulated clock (``as_of``), so labels can be seen arriving
days late: coverage, pending, accuracy and the comparison of versions v1 and v2.
It ends on its own (Ctrl-C ends it early), leaves the database running and prints
what to try next.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich import box
from rich.console import Group
from rich.live import Live
from rich.table import Table

from materializer.console import err_console, out_console
from materializer.db.connection import DSN_ENV
from materializer.demo.scaffold import scaffold
from materializer.demo.scenario import ModelScenario, Scenario
from materializer.project import Project

MODEL_SHOWN = {  # column header -> metric of fraud_model
    "n": "n",
    "coverage": "coverage",
    "pending": "pending",
    "accuracy": "accuracy",
    "recall": "recall",
    "AUC": "roc_auc",
    "cost": "cost",
}

SHOWN = {  # column header -> feature of card_activity
    "n 10m": "tx_count_10m",
    "n 1h": "tx_count_1h",
    "n 1d": "tx_count_1d",
    "max 1h": "amount_max_1h",
    "shops 1h": "merchants_1h",
    "failed 1h": "failed_count_1h",
}


def _cell(value: object) -> str:
    if value is None:
        return "null"
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _table(project: Project, cards: list[str], elapsed: float, inserted: int) -> Table:
    table = Table(title=f"live features: {inserted} transactions streamed in {elapsed:4.1f} s",
                  title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("cc_num", no_wrap=True)
    for header in SHOWN:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("last $", justify="right", no_wrap=True)
    for card in cards:
        activity = project.online_features("card_activity", {"cc_num": card})
        last = project.online_features("card_last_tx", {"cc_num": card})
        table.add_row(card, *(_cell(activity.features[f]) for f in SHOWN.values()),
                      _cell(last.features["last_amount"]))
    return table


def _model_table(project: Project, as_of: datetime) -> Table:
    result = project.metrics("fraud_model", window="1d", by="version", as_of=as_of)
    table = Table(title=f"fraud_model, 1d window at {as_of:%Y-%m-%d %H:%M} (a replay: labels come late)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("version", no_wrap=True)
    for header in MODEL_SHOWN:
        table.add_column(header, justify="right", no_wrap=True)
    for group in result.groups:
        metrics = group["metrics"]
        table.add_row(str(group["by"]["version"]), *(_cell(metrics[m]) for m in MODEL_SHOWN.values()))
    for row in project.versions("fraud_model", window="1d", as_of=as_of):
        if row["metric"] == "roc_auc" and row["statistic"] is not None:
            verdict = "significant" if row["significant"] else "not significant"
            table.caption = (f"AUC {row['version_a']} - {row['version_b']}: {row['difference']:+.3f}, "
                             f"z = {row['statistic']:.2f} ({verdict} at 5%)")
    return table


def _insert(project: Project, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    conn = project.db.conn
    with conn.cursor() as cur, cur.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _load_history(project: Project, scenario: Scenario, now: datetime) -> None:
    """Load the history into the tables that are empty; a table that holds rows (an earlier run in the
    same folder) is reused as it is, so that nothing is loaded twice. Says which."""
    conn = project.db.conn
    held = {t: conn.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("transactions", "predictions", "chargebacks")}
    if all(held.values()):
        hint = ("empty those tables" if os.environ.get(DSN_ENV) else "run the demo with another --dir")
        err_console.print(f"reusing the data of an earlier run at {project.db.where}: {held['transactions']} "
                          f"transactions, {held['predictions']} predictions and {held['chargebacks']} chargebacks "
                          f"(nothing loaded twice; to start afresh, {hint})")
        return
    loaded = []
    if not held["transactions"]:
        history = scenario.history(3000, now, timedelta(hours=3))
        _insert(project, "transactions", history)
        loaded.append(f"{len(history)} transactions of the last 3 hours")
    if not held["predictions"] and not held["chargebacks"]:
        predictions, chargebacks = ModelScenario(seed=int(time.time())).history(20000, now, timedelta(days=16))
        _insert(project, "predictions", predictions)
        _insert(project, "chargebacks", [c for c in chargebacks if datetime.fromisoformat(c["reported_at"]) <= now])
        loaded.append(f"{len(predictions)} predictions of the last 16 days with their chargebacks")
    reused = [f"{n} {t}" for t, n in held.items() if n]
    err_console.print("loaded " + " and ".join(loaded) + (f"; reused {', '.join(reused)} of an earlier run"
                                                          if reused else ""))


def run_demo(directory: Path, duration: float = 30.0, rate: float = 40.0) -> None:
    """Run the demo in ``directory`` for ``duration`` seconds at ``rate`` transactions per second."""
    if not (directory / "materializer.yml").exists():
        scaffold(directory)
        err_console.print(f"created the fraud example in {directory}/")
    project = Project.load(directory)
    try:
        plan = project.apply()
        err_console.print(plan.summary())
        scenario = Scenario(seed=int(time.time()))
        now = datetime.now(timezone.utc)
        _load_history(project, scenario, now)
        err_console.print(f"streaming for {duration:.0f} s (Ctrl-C to stop)")
        cards = scenario.watched
        inserted = 0
        started = time.monotonic()
        tick = 0.5
        week_ago = now - timedelta(days=7)

        def screen(elapsed: float) -> Group:
            replayed = week_ago + timedelta(days=7) * min(1.0, elapsed / max(duration, 1e-9))
            return Group(_table(project, cards, elapsed, inserted), _model_table(project, replayed))

        with Live(screen(0.0), console=out_console, auto_refresh=False) as live:
            try:
                while (elapsed := time.monotonic() - started) < duration:
                    batch = [scenario.transaction(datetime.now(timezone.utc))
                             for _ in range(max(1, round(rate * tick)))]
                    _insert(project, "transactions", batch)
                    inserted += len(batch)
                    live.update(screen(elapsed), refresh=True)
                    time.sleep(max(0.0, tick - (time.monotonic() - started - elapsed)))
            except KeyboardInterrupt:
                err_console.print("stopped early")
    finally:
        project.close()
    folder = directory
    err_console.print(
        "\nThe database is still running. Try next:\n"
        f"  cd {folder}\n"
        "  materializer features card_activity --key cc_num=4111-0000 --json\n"
        "  materializer features card_last_tx --key cc_num=4111-0001\n"
        "  materializer metrics fraud_model --window 7d --by version\n"
        "  materializer compile --engine materialize     # the same views for Materialize\n"
        "  psql \"$(materializer db url)\"                 # any psql client; the views are plain SQL\n"
        "  materializer db stop"
    )
