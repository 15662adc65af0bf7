"""``materializer demo``: the fraud example, streamed live on the embedded PostgreSQL.

It creates the example project, applies it, loads two hours of history, then
for ``duration`` seconds inserts fresh transactions and shows the features of a
few cards updating in the terminal. It ends on its own (Ctrl-C ends it early),
leaves the database running and prints what to try next.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich import box
from rich.live import Live
from rich.table import Table

from materializer.console import err_console, out_console
from materializer.demo.scenario import Scenario
from materializer.project import Project
from materializer.scaffold import COLUMNS, scaffold

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


def _insert(project: Project, rows: list[dict]) -> None:
    conn = project.db.conn
    with conn.cursor() as cur, cur.copy(f"copy transactions ({', '.join(COLUMNS)}) from stdin") as copy:
        for row in rows:
            copy.write_row([row[c] for c in COLUMNS])


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
        history = scenario.history(3000, now, timedelta(hours=3))
        _insert(project, history)
        err_console.print(f"loaded {len(history)} transactions of the last 3 hours; streaming for {duration:.0f} s "
                          "(Ctrl-C to stop)")
        cards = scenario.watched
        inserted = 0
        started = time.monotonic()
        tick = 0.5
        with Live(_table(project, cards, 0.0, 0), console=out_console, refresh_per_second=4,
                  auto_refresh=False) as live:
            try:
                while (elapsed := time.monotonic() - started) < duration:
                    batch = [scenario.transaction(datetime.now(timezone.utc))
                             for _ in range(max(1, round(rate * tick)))]
                    _insert(project, batch)
                    inserted += len(batch)
                    live.update(_table(project, cards, elapsed, inserted), refresh=True)
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
        "  materializer compile --engine materialize     # the same views for Materialize\n"
        "  psql \"$(materializer db url)\"                 # any psql client; the views are plain SQL\n"
        "  materializer db stop"
    )
