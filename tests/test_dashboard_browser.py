"""The live dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright.

A real `materializer serve` holds the data `materializer init` makes, with a drift reference; the page
must draw the headline chart per model version, show the same numbers as the metrics endpoint, redraw
within a few seconds when new outcomes are pushed, and log no error in the browser console. The test
saves a screenshot in its temporary folder (`--update-screenshot` also writes the README's picture,
tests/screenshots/dashboard.png).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.test_serve_stream import fraud_server, unlabelled_matured  # noqa: F401 - the served project

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).resolve().parent / "screenshots" / "dashboard.png"  # the README shows it
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install "
                                                         "chromium; .ci/run installs it)")


def values(page, selector: str) -> dict[str, float | None]:
    """metric -> the exact value a tile or cell carries in data-value."""
    out = {}
    for el in page.locator(selector).all():
        raw = el.get_attribute("data-value")
        out[el.get_attribute("data-metric")] = float(raw) if raw not in (None, "") else None
    return out


def close(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-9 * max(1, abs(b)))


def test_the_dashboard_draws_the_metrics_and_follows_pushes(fraud_server, tmp_path, request):  # noqa: F811
    server, project = fraud_server
    conn = project.db.conn
    # a drift reference: the scores of an earlier period stand for the training distribution
    conn.execute("create table training_scores as select score from predictions "
                 "where predicted_at < materializer.clock() - interval '10 days'")
    folder = project.root
    text = (folder / "materializer.yml").read_text()
    (folder / "materializer.yml").write_text(text.replace(
        "    bucket: 1h\n", "    bucket: 1h\n    reference: {relation: training_scores, column: score}\n", 1))
    from typer.testing import CliRunner

    from materializer.cli import app as cli

    for args in (["apply"], ["reference", "fraud_model"]):
        result = CliRunner().invoke(cli, ["--project", str(folder), *args])
        assert result.exit_code == 0, result.output
    server.stop()  # restart on the new project file
    from tests.test_serve_process import Server

    as_of = conn.execute("select materializer.clock()").fetchone()[0].isoformat()
    server = Server(folder, server_dsn(project), "--stream-interval", "0.3", "--as-of", as_of)
    errors: list[str] = []
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.goto(server.url + "/dashboard/fraud_model?window=7d")
            page.wait_for_function("document.getElementById('live').className === 'on'", timeout=15000)

            # the headline chart: one line per model version, each with points
            paths = page.locator("[data-chart=headline] path[data-series]")
            assert sorted(paths.evaluate_all("ps => ps.map(p => p.dataset.series)")) == ["v1", "v2"]
            assert all(int(n) > 10 for n in paths.evaluate_all("ps => ps.map(p => p.dataset.points)"))
            assert page.locator("[data-chart=coverage] path[data-series]").count() == 1

            # the numbers shown are the metrics endpoint's, overall and per version
            metrics = httpx.get(server.url + "/monitors/fraud_model/metrics", params={"window": "7d"}).json()
            shown = values(page, "#overall .value")
            for name in ("accuracy", "roc_auc", "n", "coverage", "pending", "n_invalid", "cost"):
                assert close(shown[name], metrics["groups"][0]["metrics"][name]), name
            by_version = httpx.get(server.url + "/monitors/fraud_model/metrics",
                                   params={"window": "7d", "by": "version"}).json()["groups"]
            for group in by_version:
                row = values(page, f"tr[data-version={group['by']['version']}] td[data-metric]")
                for name in ("accuracy", "roc_auc", "n"):
                    assert close(row[name], group["metrics"][name]), (group["by"], name)
            compared = httpx.get(server.url + "/monitors/fraud_model/versions", params={"window": "7d"}).json()
            badges = page.locator("#versions [data-significant]").evaluate_all(
                "bs => bs.map(b => b.dataset.significant)")
            assert badges == [str(c["significant"]).lower() for c in compared["comparisons"]]
            drift = httpx.get(server.url + "/monitors/fraud_model/drift", params={"window": "7d"}).json()
            assert [d["column_name"] for d in drift["columns"]] == ["score"]
            psi = page.locator("#drift tr[data-column=score] td[data-value]").get_attribute("data-value")
            assert close(float(psi), drift["columns"][0]["psi"])
            assert page.locator("#freshness tr[data-view]").count() == 2
            assert "7d have passed" in page.locator("#caveat").inner_text()
            assert page.locator("#asof").get_attribute("data-value") == metrics["as_of"]

            # new outcomes: the page redraws on its own within a few seconds
            before = shown["coverage"]
            rows = [{"tx_id": tx, "reported_at": at, "is_fraud": 1} for tx, at in unlabelled_matured(project, 20)]
            pushed_at = time.monotonic()
            assert httpx.post(server.url + "/push/chargebacks", json=rows).status_code == 200
            page.wait_for_function("Number(document.querySelector('#overall .value[data-metric=coverage]')"
                                   f".dataset.value) > {before}", timeout=10000)
            assert time.monotonic() - pushed_at < 5
            after = values(page, "#overall .value")
            fresh = httpx.get(server.url + "/monitors/fraud_model/metrics", params={"window": "7d"}).json()
            assert after["coverage"] > before and close(after["coverage"], fresh["groups"][0]["metrics"]["coverage"])

            # readable at a wall monitor's size too
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            page.set_viewport_size({"width": 2560, "height": 1440})
            page.wait_for_timeout(400)
            page.screenshot(path=str(tmp_path / "dashboard-wall.png"), full_page=True)
            if request.config.getoption("--update-screenshot"):
                page.set_viewport_size({"width": 1200, "height": 800})
                page.wait_for_timeout(400)
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            browser.close()
    finally:
        server.stop()
    assert errors == [], errors
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def server_dsn(project) -> str:
    return project._dsn


def test_the_page_escapes_what_it_shows(fraud_server):  # noqa: F811
    """A segment or version value is data, not markup: the embedded summary cannot close its script."""
    server, project = fraud_server
    page = httpx.get(server.url + "/dashboard/fraud_model").text
    embedded = page.split('<script type="application/json" id="initial">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded)["monitor"] == "fraud_model"
    assert "<script src" not in page and "http://" not in page.split("<style>")[0] + page.split("</style>")[1]
