"""The README's production sections, walked as a new user would, with what runs here.

No engine, broker or container runs on the build machines, so the docker steps are checked against
docker-compose.yml and the rest is run: every ```yaml snippet of these sections is applied to the
project of `materializer init` (merged into it, key by key, as the text says: "add a `kafka:` key to
the `transactions` source"), then validated, compiled and linted for Materialize and RisingWave;
every `materializer` command line of their ```sh blocks is parsed by the real CLI (click's
``make_context``, command by command, so a wrong option or a missing argument fails); every URL of
serve is a route of the app, and the ones that answer a document are sent to it on PostgreSQL with
the init project's data; every environment variable named is read by the code or the compose file;
every `docker compose` line names profiles and services that exist. The order of the walk-through
is run on PostgreSQL: serve starts before `apply`, is ready, answers lookups with 503 naming `apply`,
and answers them after `apply` without a restart; the dashboards need no database.
"""

from __future__ import annotations

import csv
import re
import shlex
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import typer
import yaml
from starlette.routing import Match
from starlette.testclient import TestClient
from typer import _click as click  # the click that typer builds its commands with (vendored)
from typer.testing import CliRunner

from materializer.cli import app as cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SECTIONS = ("Run on Materialize", "Run on RisingWave", "Materialize Cloud, a RisingWave cluster",
            "Streaming sources: Kafka, webhooks and backfill",
            "Deploying on Materialize: clusters and zero-downtime changes", "The live dashboard")
ENGINES = ("materialize", "risingwave")
FENCE = re.compile(r"^```(\w*)\s*$")


def section_lines() -> dict[str, list[str]]:
    """Each production section's lines (down to the next heading of its level or above), headings
    inside code blocks ignored."""
    lines = README.splitlines()
    headings: list[tuple[int, int, str]] = []  # (line, level, title)
    in_code = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^(#+) (.+)$", line)):
            headings.append((i, len(m.group(1)), m.group(2).strip()))
    out = {}
    for k, (start, level, title) in enumerate(headings):
        if title in SECTIONS:
            end = next((i for i, lv, _ in headings[k + 1:] if lv <= level), len(lines))
            out[title] = lines[start:end]
    return out


def blocks(kind: str) -> list[tuple[str, str]]:
    """(section, text) of every ```kind block of the production sections."""
    found = []
    for title, lines in section_lines().items():
        current: list[str] | None = None
        lang = ""
        for line in lines:
            m = FENCE.match(line)
            if m and current is None:
                current, lang = [], m.group(1)
            elif m:
                if lang == kind:
                    found.append((title, "\n".join(current)))
                current = None
            elif current is not None:
                current.append(line)
    return found


def prose() -> str:
    """The text of the production sections outside code blocks."""
    out = []
    for lines in section_lines().values():
        in_code = False
        for line in lines:
            if FENCE.match(line):
                in_code = not in_code
            elif not in_code:
                out.append(line)
    return "\n".join(out)


def shell_commands() -> list[tuple[str, list[str]]]:
    """(section, words) of every simple command of the ```sh blocks: continuations joined, comments
    dropped, split at pipes and ``&&``/``;``; leading VAR=value assignments removed."""
    out = []
    for title, text in blocks("sh"):
        for line in text.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words: list[str] = []
            for word in list(lexer) + ["|"]:
                if word in ("|", "||", "&&", ";", "&"):
                    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                        words.pop(0)
                    while words and words[0] in ("until", "while", "do", "then", "done"):
                        words.pop(0)
                    if words and words[0] == "export":
                        words = []
                    if words:
                        out.append((title, words))
                    words = []
                else:
                    words.append(word)
    return out


def deep_merge(base: dict, snippet: dict) -> dict:
    out = dict(base)
    for key, value in snippet.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


@pytest.fixture(scope="module")
def walk(tmp_path_factory) -> Path:
    """A folder where `materializer init fraud` ran (the README's commands run from there)."""
    folder = tmp_path_factory.mktemp("walk")
    result = CliRunner().invoke(cli, ["init", str(folder / "fraud")])
    assert result.exit_code == 0, result.output
    return folder


def run(args: list[str], monkeypatch) -> tuple[int, str]:
    monkeypatch.delenv("MATERIALIZER_DSN", raising=False)
    monkeypatch.delenv("MATERIALIZER_PROJECT", raising=False)
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


# ---------------------------------------------------------------- the sections exist


def test_the_production_sections_and_their_blocks_are_found() -> None:
    assert set(section_lines()) == set(SECTIONS)
    assert len(blocks("yaml")) >= 3 and len(blocks("sh")) >= 6
    assert any(w[:1] == ["materializer"] for _, w in shell_commands())


# ---------------------------------------------------------------- YAML snippets


def snippet_projects(walk: Path) -> list[tuple[str, dict]]:
    base = yaml.safe_load((walk / "fraud" / "materializer.yml").read_text(encoding="utf-8"))
    return [(title, deep_merge(base, yaml.safe_load(text))) for title, text in blocks("yaml")]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_yaml_snippet_on_the_init_project_validates_compiles_and_lints(walk, tmp_path, monkeypatch,
                                                                             engine) -> None:
    for n, (title, doc) in enumerate(snippet_projects(walk)):
        doc = dict(doc, engine=engine)
        webhooks = [s for s, src in doc["sources"].items() if isinstance(src, dict) and "webhook" in src]
        folder = tmp_path / f"p{n}"
        folder.mkdir()
        path = folder / "materializer.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        code, out = run(["--project", str(path), "validate"], monkeypatch)
        if engine == "risingwave" and webhooks:
            # "A `webhook:` source is refused at `validate`, naming the alternative (a Kafka topic)"
            assert code == 1 and "webhook" in out and "Kafka" in out, (title, out)
            doc["sources"] = {s: src for s, src in doc["sources"].items() if s not in webhooks}
            path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
            code, out = run(["--project", str(path), "validate"], monkeypatch)
        assert code == 0, (title, out)
        assert f"engine {engine}" in out
        code, sql = run(["--project", str(path), "compile", "--engine", engine], monkeypatch)
        assert code == 0, (title, sql)
        if "deployment" in doc:
            if engine == "materialize":  # the clusters named by the snippet are used
                for role in ("compute_cluster", "serving_cluster"):
                    assert f"in cluster {doc['deployment'][role]['name']}" in sql, (title, role)
            else:  # "validated and ignored; `materializer compile` says so in its second line"
                assert "deployment" in sql.splitlines()[1], sql.splitlines()[:3]
        for source, spec in doc["sources"].items():
            if isinstance(spec, dict) and "kafka" in spec:
                assert spec["kafka"]["topic"] in sql and spec["kafka"]["broker"] in sql, (title, source)
        code, out = run(["--project", str(path), "lint", "--engine", engine], monkeypatch)
        assert code == 0, (title, out)
        assert "no problems" in out


def test_the_walkthrough_snippet_is_the_one_of_run_on_materialize(walk) -> None:
    """The first snippet is the edit the walk-through asks for: engine and a kafka: key, nothing else."""
    title, text = blocks("yaml")[0]
    assert title == "Run on Materialize"
    doc = yaml.safe_load(text)
    assert set(doc) == {"engine", "sources"} and set(doc["sources"]) == {"transactions"}
    assert set(doc["sources"]["transactions"]) == {"kafka"}
    assert doc["sources"]["transactions"]["kafka"]["client_broker"] == "localhost:19092"
    # the broker as the engine reaches it is Redpanda's internal listener of the compose file
    assert "--advertise-kafka-addr=internal://redpanda:9092,external://localhost:19092" in \
        COMPOSE["services"]["redpanda"]["command"]
    assert "127.0.0.1:19092:19092" in COMPOSE["services"]["redpanda"]["ports"]


# ---------------------------------------------------------------- materializer command lines


def parse_cli(words: list[str]) -> click.Context:
    """Parse a command line as the CLI would, down to its leaf command; click raises on a bad one."""
    command = typer.main.get_command(cli)
    ctx = command.make_context("materializer", list(words[1:]))
    while hasattr(command, "resolve_command"):  # a group: resolve its subcommand, then parse that
        rest = [*ctx._protected_args, *ctx.args]
        assert rest, f"{shlex.join(words)}: no command"
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)
    return ctx


def materializer_lines() -> list[tuple[str, list[str]]]:
    lines = [(t, w) for t, w in shell_commands() if w[0] == "materializer"]
    # commands in the text, `materializer ...` in backticks (placeholders such as E, SOURCE, FILE)
    for m in re.finditer(r"`(materializer [^`]+)`", prose().replace("\n", " ")):
        words = shlex.split(m.group(1))
        if len(words) > 2 or any(w.startswith("-") for w in words):  # not a bare mention such as `materializer serve`
            lines.append(("prose", words))
    return lines


def test_every_materializer_command_line_parses(walk, monkeypatch) -> None:
    monkeypatch.chdir(walk)
    monkeypatch.delenv("MATERIALIZER_PROJECT", raising=False)
    lines = materializer_lines()
    assert len(lines) >= 12
    seen = set()
    for title, words in lines:
        try:
            ctx = parse_cli(words)
        except click.ClickException as exc:
            pytest.fail(f"{title}: `{shlex.join(words)}` does not parse: {exc.format_message()}")
        seen.add(ctx.command_path.split(" ", 1)[1])
    assert {"apply", "push", "metrics", "serve", "dashboards grafana", "compile"} <= seen


def test_a_wrong_command_line_does_not_parse(walk, monkeypatch) -> None:
    """The check can fail: an unknown option, a missing argument, an unknown command."""
    monkeypatch.chdir(walk)
    for words in (["materializer", "--project", "fraud", "push", "transactions"],
                  ["materializer", "metrics", "fraud_model", "--windows", "1d"],
                  ["materializer", "dashboards", "grafana", "--engine", "materialize"],
                  ["materializer", "deploy"]):
        with pytest.raises(click.ClickException):
            parse_cli(words)


# ---------------------------------------------------------------- docker compose lines


def compose_lines() -> list[list[str]]:
    lines = [w for _, w in shell_commands() if w[:2] == ["docker", "compose"]]
    lines += [shlex.split(m.group(1)) for m in re.finditer(r"`(docker compose [^`]+)`", prose().replace("\n", " "))]
    return lines


def test_docker_compose_lines_name_profiles_and_services_that_exist() -> None:
    services = COMPOSE["services"]
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    flags = {"-d", "--build", "--force-recreate", "-v", "-T"}
    lines = compose_lines()
    assert len(lines) >= 6
    for words in lines:
        i, profile = 2, None
        while words[i] == "--profile":
            profile = words[i + 1]
            assert profile in profiles, words
            i += 2
        sub, args = words[i], [w for w in words[i + 1:] if w not in flags]
        assert sub in ("up", "down", "exec"), words
        named = args[:1] if sub == "exec" else args
        for name in named:
            assert name in services, (name, words)
            assert profile in services[name].get("profiles", []), (name, profile)
    # the services the text names by name
    for name in set(re.findall(r"`((?:serve|dashboards|grafana)-(?:materialize|risingwave))`", prose())):
        assert name in services, name
    for name in ("serve", "dashboards", "grafana"):
        for engine in ENGINES:
            assert f"{name}-{engine}" in services


def test_the_dashboards_service_runs_the_command_the_readme_names() -> None:
    for engine in ENGINES:
        command = COMPOSE["services"][f"dashboards-{engine}"]["command"]
        assert command[:2] == ["dashboards", "grafana"] and command[command.index("--engine") + 1] == engine
        assert "`materializer dashboards grafana --out ... --engine ...`" in README


# ---------------------------------------------------------------- environment variables


def code_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "materializer").rglob("*.py"))


def test_every_environment_variable_named_is_read_somewhere() -> None:
    code, compose = code_text(), (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    text = "\n".join("\n".join(lines) for lines in section_lines().values())
    names = set(re.findall(r"\b(MATERIALIZER_[A-Z_]+|PG[A-Z]+)\b", text))
    assert {"MATERIALIZER_DSN", "MATERIALIZER_PROJECT_DIR", "MATERIALIZER_API_TOKEN",
            "MATERIALIZER_GRAFANA_PASSWORD", "PGPASSWORD"} <= names
    for name in names:
        if name == "PGPASSWORD":  # read by libpq, which psycopg uses; the code names it for `db url`
            assert name in code
            continue
        in_code = re.search(rf"[\"']{name}[\"']", code) is not None
        in_compose = re.search(rf"\$\{{{name}[:}}-]", compose) is not None or f"{name}:" in compose
        assert in_code or in_compose, f"{name} is read by neither the code nor docker-compose.yml"
    # what compose passes on from the user's environment is what the README tells them to set
    for name in set(re.findall(r"\$\{(MATERIALIZER_[A-Z_]+)", compose)):
        assert name in names, f"docker-compose.yml reads {name}, which the production sections do not name"


# ---------------------------------------------------------------- serve's URLs


def serve_urls() -> list[tuple[str, str, str | None]]:
    """(method, url, body) of every curl to serve (port 8000) in the production sections."""
    out = []
    for _, words in shell_commands():
        if words[0] != "curl":
            continue
        url = next(w for w in words[1:] if "localhost:" in w)
        if ":8000" not in url:
            continue
        body = words[words.index("-d") + 1] if "-d" in words else None
        out.append(("POST" if body is not None else "GET", url, body))
    # addresses of serve in the text (http://localhost:8000/dashboard)
    for url in re.findall(r"https?://localhost:8000(/[\w/{}.-]*)", prose()):
        out.append(("GET", f"localhost:8000{url}", None))
    return out


def test_every_url_with_a_query_is_quoted_in_the_shell_blocks() -> None:
    """An unquoted `?` or `&` is a glob or a background job in the shell (zsh refuses the glob)."""
    for _, text in blocks("sh"):
        for line in text.splitlines():
            for m in re.finditer(r"(\S*localhost:\d+/\S*[?&]\S*)", line):
                assert m.group(1)[0] in "'\"", line


@pytest.fixture
def applied(walk, pg_dsn, tmp_path):
    """The init project (engine postgres, the data of `init`) loaded on the test database."""
    from materializer.project import Project

    folder = tmp_path / "fraud"
    shutil.copytree(walk / "fraud", folder)
    project = Project.load(folder / "materializer.yml", dsn=pg_dsn)
    yield project
    project.close()


def test_every_serve_url_is_a_route_and_answers(applied, pg_dsn) -> None:
    from materializer.serve import create_app

    urls = serve_urls()
    assert len(urls) >= 5
    project = applied
    guard = create_app(project, dsn=pg_dsn)
    routes = guard.app.routes
    with TestClient(guard) as client:
        # before apply: ready (the database answers), but a lookup says to apply
        assert client.get("/readyz").status_code == 200
        _, _, body = next(u for u in urls if u[1].endswith("/get-online-features"))
        missing = client.post("/get-online-features", content=body, headers={"Content-Type": "application/json"})
        assert missing.status_code == 503 and "materializer apply" in missing.json()["detail"]
        # the walk-through's apply and pushes, on the server that is already running
        project.apply()
        for source in ("transactions", "predictions", "chargebacks"):
            project.push(source, project.root / "data" / f"{source}.csv")
        for method, url, body in urls:
            parts = urlsplit(url if "://" in url else f"http://{url}")
            scope = {"type": "http", "path": parts.path, "method": method}
            assert any(r.matches(scope)[0] == Match.FULL for r in routes), f"{method} {url}: no such route"
            if parts.path.endswith("/stream"):
                # an endless event stream: its query parameters are the ones the metrics route takes
                assert {k for k, _ in parse_qsl(parts.query)} <= {"window"}
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            answer = client.request(method, target, content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 200, (url, answer.text)
            if parts.path.startswith("/dashboard"):
                assert "fraud_model" in answer.text
                continue
            doc = answer.json()
            if parts.path == "/get-online-features":
                # a lookup right after push: every feature found, the hour's count not empty
                assert all(s == "PRESENT" for r in doc["results"] for s in r["statuses"]), doc
                assert doc["results"][1]["values"][0] > 0
            if "/metrics" in parts.path:
                assert doc["groups"] and all(g["metrics"]["n"] > 0 for g in doc["groups"]), doc


def test_the_dashboards_need_no_database(walk, tmp_path, monkeypatch) -> None:
    """The one-shot dashboards service runs while the engine may be empty: it reads the project only."""
    project = tmp_path / "fraud"
    project.mkdir()
    text = (walk / "fraud" / "materializer.yml").read_text(encoding="utf-8")
    (project / "materializer.yml").write_text(text.replace("engine: postgres ", "engine: materialize"))
    for engine in ENGINES:
        monkeypatch.setenv("MATERIALIZER_DSN", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
        result = CliRunner().invoke(cli, ["--project", str(project), "dashboards", "grafana", "--out",
                                          str(tmp_path / engine), "--engine", engine])
        assert result.exit_code == 0, result.output
        assert (tmp_path / engine / "dashboards" / "materializer-fraud" / "fraud_model.json").exists()


# ---------------------------------------------------------------- the sample data's dates


def test_init_data_fills_the_windows_a_real_time_engine_computes(tmp_path, monkeypatch) -> None:
    """What the README promises a user who pushes right after `init`: the card of the lookups has
    events in the last hour, and both monitor windows hold matured predictions (maturity 7d), for a
    week after init (computed here from the CSV files, not by the code)."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = datetime.now(timezone.utc)
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "fraud")]).exit_code == 0
    data = tmp_path / "fraud" / "data"

    def rows(name):
        with open(data / f"{name}.csv", encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    tx = [datetime.fromisoformat(r["ts"]) for r in rows("transactions") if r["cc_num"] == "4111-0001"]
    assert sum(before - timedelta(hours=1) <= t for t in tx) > 0
    assert max(datetime.fromisoformat(r["ts"]) for r in rows("transactions")) <= datetime.now(timezone.utc)
    predicted = [datetime.fromisoformat(r["predicted_at"]) for r in rows("predictions")]
    maturity = timedelta(days=7)
    for later in (timedelta(0), timedelta(days=6, hours=23)):
        now = before + later
        for window, at_least in ((timedelta(days=1), 100), (timedelta(days=7), 1000)):
            matured = sum(now - window < p + maturity <= now for p in predicted)
            assert matured >= at_least, (later, window, matured)
    assert rows("chargebacks")


@pytest.mark.parametrize("message", ["Catalog error: table or source not found: card_activity",
                                     "unknown catalog item 'card_activity'"])
def test_a_streaming_engines_missing_view_says_to_apply(message) -> None:
    """Serve started before `apply` on RisingWave or Materialize: their "no such relation" errors (whatever
    SQLSTATE comes with them) answer 503 saying to run apply, as PostgreSQL's 42P01 does above."""
    import psycopg

    from materializer.errors import DatabaseUnavailable
    from materializer.serve.database import translate

    error = translate(psycopg.errors.InternalError_(message), "postgresql://root@localhost:4566/dev")
    assert isinstance(error, DatabaseUnavailable) and "run `materializer apply`" in str(error)
    other = translate(psycopg.errors.InternalError_("division by zero"), "postgresql://root@localhost:4566/dev")
    assert not isinstance(other, DatabaseUnavailable)
