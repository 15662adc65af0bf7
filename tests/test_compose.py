"""docker-compose.yml and the Dockerfile, checked without a container engine (none runs on the build
machines): the Compose Specification's JSON schema, the engines' documented ports, commands and
health checks (each fact below cites where it is documented), the profiles, the dependencies, and
that every command run in the image is one the CLI has."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from typer.testing import CliRunner

from materializer.cli import app
from materializer.definitions.validate import parse_project
from materializer.demo.scaffold import PROJECT_YML
from materializer.monitoring import grafana

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SCHEMA_NAME = "compose-spec.schema.json"
# The Compose Specification's schema (schema/compose-spec.json of the compose-spec repository) lives in
# the workplace's shared data folder beside the project (../shared/data), or beside the folder of its
# git worktrees; it is not vendored here.
SCHEMA = next((p / "shared" / "data" / SCHEMA_NAME for p in ROOT.parents
               if (p / "shared" / "data" / SCHEMA_NAME).exists()),
              ROOT.parent / "shared" / "data" / SCHEMA_NAME)

COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
SERVICES: dict[str, dict] = COMPOSE["services"]

#: what each profile starts: its engine, the broker, and serve, dashboards and Grafana for that engine
PROFILES = {
    "materialize": {"materialize", "redpanda", "serve-materialize", "dashboards-materialize", "grafana-materialize"},
    "risingwave": {"risingwave", "redpanda", "serve-risingwave", "dashboards-risingwave", "grafana-risingwave"},
}
#: the engines' SQL endpoints inside the compose network, as each engine's docs give user and database
ENGINE_SQL = {
    # doc/user/content/get-started/install-materialize-emulator.md: SQL on 6875, user and database
    # `materialize`
    "materialize": ("materialize", 6875, "materialize", "materialize"),
    # risingwave-docs get-started/quickstart.mdx: `psql -h localhost -p 4566 -d dev -U root`
    "risingwave": ("risingwave", 4566, "root", "dev"),
}
TITLES = {"materialize": "Materialize", "risingwave": "RisingWave"}
SERVE_PORT = 8000  # `materializer serve --port`, and what the README's curl commands use
ONE_SHOT = {"dashboards-materialize", "dashboards-risingwave"}


def published(service: dict) -> dict[int, tuple[str, int]]:
    """{container port: (host address, host port)} of a service's short-syntax ports."""
    out = {}
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        host_ip, host_port, container = (parts if len(parts) == 3 else ["0.0.0.0", *parts])
        out[int(container)] = (host_ip, int(host_port))
    return out


def mount(volume: str) -> tuple[str, str]:
    """(source, target) of a short-syntax volume; the source may be a ``${VAR:-default}``."""
    m = re.fullmatch(r"(\$\{[^}]*\}|[^:]+):([^:]+)(?::(?:ro|rw))?", volume)
    assert m, f"not a volume: {volume}"
    return m.group(1), m.group(2)


def flags(command: list[str]) -> dict[str, str]:
    """``--name=value`` arguments of a command as {name: value}."""
    return dict(arg[2:].split("=", 1) for arg in command if arg.startswith("--") and "=" in arg)


def listeners(value: str) -> dict[str, str]:
    """Redpanda's ``name://host:port,...`` listener list as {name: host:port}."""
    return dict(item.split("://", 1) for item in value.split(","))


def in_profile(name: str) -> set[str]:
    return {s for s, body in SERVICES.items() if not body.get("profiles") or name in body["profiles"]}


# ---------------------------------------------------------------- the specification


def test_compose_file_follows_the_compose_specification():
    if not SCHEMA.exists():
        pytest.skip(f"the Compose Specification's schema is not beside the project ({SCHEMA} is missing); "
                    "the fact checks of this file still run")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_mistake():
    """The schema check above can fail: a misspelt key and a bad depends_on condition are refused."""
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} is missing")
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    broken = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    broken["services"]["redpanda"]["healtcheck"] = broken["services"]["redpanda"].pop("healthcheck")
    assert list(validator.iter_errors(broken))
    broken = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    broken["services"]["serve-materialize"]["depends_on"]["materialize"]["condition"] = "service_ready"
    assert list(validator.iter_errors(broken))


def test_every_image_is_pinned():
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if "build" in service:
            assert image.endswith(":local"), f"{name} is built here: tag it :local, never pull it"
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag and tag not in ("", "latest"), f"{name}: pin the tag of {image!r}"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+(-[a-z]+)?", tag), f"{name}: {tag!r} is not a release tag"
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE).group(1)
    assert ":" in base and not base.endswith(":latest"), f"pin the Dockerfile's base image {base}"


# ---------------------------------------------------------------- the engines' documented usage


def test_materialize_emulator_ports_and_readiness():
    mz = SERVICES["materialize"]
    assert mz["image"].startswith("materialize/materialized:")
    ports = published(mz)
    # doc/user/content/get-started/install-materialize-emulator.md: console 6874, SQL 6875, HTTP 6876
    # (webhooks: doc/user/content/sql/create-source/webhook.md), bound to localhost as the docs do
    for port in (6874, 6875, 6876):
        assert ports.get(port) == ("127.0.0.1", port), f"publish {port} on 127.0.0.1:{port}"
    # readiness on 6878 (misc/python/materialize/mzcompose/services/materialized.py checks
    # `curl -f localhost:6878/api/readyz`); published so that scripts can wait for it
    assert ports.get(6878) == ("127.0.0.1", 6878)
    test = mz["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "curl" and "-f" in "".join(test[2:4])
    assert test[-1] == "localhost:6878/api/readyz"


def test_risingwave_standalone_image_and_command():
    rw = SERVICES["risingwave"]
    # risingwave-docs changelog/release-notes.mdx (v2.7.0 and later): the image tag ends in
    # -standalone and the command is `single_node`; SQL on 4566, dashboard on 5691
    assert re.fullmatch(r"risingwavelabs/risingwave:v\d+\.\d+\.\d+-standalone", rw["image"])
    assert rw["command"] == "single_node"
    ports = published(rw)
    assert ports.get(4566) == ("127.0.0.1", 4566) and ports.get(5691) == ("127.0.0.1", 5691)
    # a TCP connect to the SQL port (RisingWave's docker/docker-compose-standalone.yml checks its
    # nodes with bash's /dev/tcp; the image is Ubuntu with bash, docker/Dockerfile)
    test = rw["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"] and test[3].endswith("/dev/tcp/127.0.0.1/4566")


def test_redpanda_has_separate_internal_and_external_listeners():
    rp = SERVICES["redpanda"]
    assert rp["image"].startswith("redpandadata/redpanda:")
    args = flags(rp["command"])
    assert rp["command"][:2] == ["redpanda", "start"]
    # redpanda-data/redpanda-labs docker-compose/single-broker/docker-compose.yml: an internal listener
    # on 9092 advertised with the service's name, an external one on 19092 advertised as localhost
    assert listeners(args["kafka-addr"]) == {"internal": "0.0.0.0:9092", "external": "0.0.0.0:19092"}
    assert listeners(args["advertise-kafka-addr"]) == {"internal": "redpanda:9092", "external": "localhost:19092"}
    # only the external listener is published: a host client must never be handed redpanda:9092
    assert published(rp) == {19092: ("127.0.0.1", 19092)}
    # modules/reference/pages/rpk/rpk-cluster/rpk-cluster-health.adoc (redpanda-data/docs)
    test = rp["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and test[1].startswith("rpk cluster health") and "Healthy" in test[1]


def test_grafana_health_route_and_provisioning_paths():
    for name in ("grafana-materialize", "grafana-risingwave"):
        g = SERVICES[name]
        assert published(g) == {3000: ("127.0.0.1", 3000)}
        assert g["healthcheck"]["test"][-1] == "http://localhost:3000/api/health"
        # Grafana reads what the dashboards service wrote, where the provider files point
        targets = {mount(v)[1] for v in g["volumes"]}
        assert targets == {f"{grafana.PROVISIONING}/datasources", f"{grafana.PROVISIONING}/dashboards"}
        assert all(v.endswith(":ro") for v in g["volumes"])


# ---------------------------------------------------------------- serve and the dashboards


def test_serve_reaches_its_engine_by_service_name():
    for engine, (host, port, user, db) in ENGINE_SQL.items():
        serve = SERVICES[f"serve-{engine}"]
        dsn = re.fullmatch(r"\$\{MATERIALIZER_SERVE_DSN:-(.+)\}", serve["environment"]["MATERIALIZER_DSN"]).group(1)
        parts = urlsplit(dsn)
        assert (parts.hostname, parts.port, parts.username, parts.path) == (host, port, user, f"/{db}")
        assert port in {int(p.split(":")[-1]) for p in SERVICES[engine]["ports"]}
        assert serve["depends_on"] == {engine: {"condition": "service_healthy"}}
        assert published(serve) == {SERVE_PORT: ("127.0.0.1", SERVE_PORT)}
        assert serve["command"][serve["command"].index("--port") + 1] == str(SERVE_PORT)
        assert serve["command"][serve["command"].index("--host") + 1] == "0.0.0.0"


def test_the_dashboards_point_at_the_engine_service():
    """The datasource that `dashboards grafana --engine E` writes names E's compose service and port."""
    for engine, (host, port, user, db) in ENGINE_SQL.items():
        command = SERVICES[f"dashboards-{engine}"]["command"]
        assert command[command.index("--engine") + 1] == engine
        parts = urlsplit(grafana.COMPOSE_DSNS[engine])
        assert (parts.hostname, parts.port, parts.username, parts.path) == (host, port, user, f"/{db}")


def test_the_dashboards_land_in_the_volumes_grafana_mounts():
    spec = parse_project(yaml.safe_load(PROJECT_YML))
    files = grafana.provisioning(spec, "materialize").files()
    for engine in ENGINE_SQL:
        dash = SERVICES[f"dashboards-{engine}"]
        out = dash["command"][dash["command"].index("--out") + 1]
        mounts = {mount(v)[1]: mount(v)[0] for v in dash["volumes"]}
        grafana_mounts = dict(mount(v) for v in SERVICES[f"grafana-{engine}"]["volumes"])
        for relative in files:
            top = relative.split("/")[0]
            volume = mounts[f"{out}/{top}"]  # every written file is under a mounted volume
            assert grafana_mounts[volume] == f"{grafana.PROVISIONING}/{top}"
        assert mounts["/project"] == "${MATERIALIZER_PROJECT_DIR:-.}"


def _readyz_server(statuses: list[int]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(statuses.pop(0) if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_serve_healthcheck_passes_on_200_and_fails_on_503():
    """The serve health check's own command, run against a server answering 200 and then 503."""
    test = SERVICES["serve-materialize"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{SERVE_PORT}/readyz" in test[3]
    server = _readyz_server([200, 503])
    try:
        code = test[3].replace(f"127.0.0.1:{SERVE_PORT}", f"127.0.0.1:{server.server_address[1]}")
        ok = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=False)
        down = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=False)
    finally:
        server.shutdown()
    assert ok.returncode == 0, ok.stderr
    assert down.returncode != 0


def test_serve_has_the_routes_the_stack_uses(tmp_path: Path):
    from materializer.project import Project
    from materializer.serve.app import create_app

    (tmp_path / "materializer.yml").write_text(PROJECT_YML, encoding="utf-8")
    # the pool opens in the lifespan, which never runs here: no database is reached
    app_ = create_app(Project.load(tmp_path), dsn="postgresql://nobody@127.0.0.1:1/none")
    paths = {route.path for route in getattr(app_, "app", app_).routes}  # under the token guard
    assert {"/readyz", "/get-online-features", "/monitors/{name}/metrics"} <= paths


# ---------------------------------------------------------------- health checks, dependencies, profiles


def test_every_long_running_service_has_a_health_check():
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            # a one-shot exits; its dependents wait for service_completed_successfully instead
            assert service["restart"] == "no" and "healthcheck" not in service
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} needs a health check"


def test_every_dependency_is_defined_and_has_a_meaningful_condition():
    for name, service in SERVICES.items():
        for dep, rule in service.get("depends_on", {}).items():
            assert dep in SERVICES, f"{name} depends on {dep}, which is not a service"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep} to be healthy: it has no check"
            elif condition == "service_completed_successfully":
                assert dep in ONE_SHOT, f"{name} waits for {dep} to exit, but {dep} keeps running"
            else:
                pytest.fail(f"{name} -> {dep}: use service_healthy or service_completed_successfully, not "
                            f"{condition}")


def test_profiles_start_exactly_one_engine_and_its_services():
    assert {p for s in SERVICES.values() for p in s.get("profiles", [])} == set(PROFILES)
    for profile, expected in PROFILES.items():
        enabled = in_profile(profile)
        assert enabled == expected
        for name in enabled:  # a profile never depends on a service it does not start
            assert set(SERVICES[name].get("depends_on", {})) <= enabled, name
        host_ports = [hp for name in enabled for _, hp in published(SERVICES[name]).values()]
        assert len(host_ports) == len(set(host_ports)), f"profile {profile} publishes a host port twice"


def test_grafana_and_serve_keep_their_network_names():
    """Both profiles' services answer to the names the project file and the docs use."""
    for name in ("serve-materialize", "serve-risingwave"):
        assert SERVICES[name]["networks"]["default"]["aliases"] == ["serve"]
    for name in ("grafana-materialize", "grafana-risingwave"):
        assert SERVICES[name]["networks"]["default"]["aliases"] == ["grafana"]


# ---------------------------------------------------------------- the image's commands


def _dockerfile_array(instruction: str) -> list[str]:
    line = re.search(rf"^{instruction}\s+(\[.*\])\s*$", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert line, f"the Dockerfile needs an exec-form {instruction}"
    return json.loads(line.group(1))


def _parses(args: list[str]) -> None:
    """The CLI accepts ``args`` (typer's CliRunner with --help) and converts every option's value."""
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"materializer {' '.join(args)}: {result.output}"
    command = typer.main.get_command(app)
    ctx = command.make_context("materializer", [], resilient_parsing=True)
    rest = list(args)
    name = "materializer"
    while hasattr(command, "list_commands"):  # a group (typer vendors click: no isinstance)
        name = rest.pop(0)
        command = command.get_command(ctx, name)
        assert command is not None, f"materializer has no command {name}"
    try:
        command.make_context(name, rest)  # an unknown option or a value of the wrong type raises
    except Exception as exc:  # noqa: BLE001 - typer vendors click: its UsageError is private
        raise AssertionError(f"materializer {' '.join(args)}: {exc}") from None


def test_the_image_runs_commands_the_cli_has():
    assert _dockerfile_array("ENTRYPOINT") == ["materializer"]
    cmd = _dockerfile_array("CMD")
    assert cmd[0] == "serve"
    _parses(cmd)
    for service in SERVICES.values():
        if service.get("image") == "materializer:local":
            _parses(service["command"])
    with pytest.raises(AssertionError, match="eighty"):
        _parses(["serve", "--port", "eighty"])


def test_the_dockerfile_installs_extras_that_exist():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    installs = re.findall(r"pip install ([^\n&]+)", DOCKERFILE.read_text(encoding="utf-8"))
    assert installs, "the Dockerfile installs the package with pip"
    for install in installs:
        for word in shlex.split(install):
            if word.startswith("."):
                named = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", word).group(1)
                assert set(filter(None, (named or "").split(","))) <= extras, f"unknown extra in {word}"
    # what pyproject's build needs is in the image's context
    copied = {src for line in re.findall(r"^COPY (.+)$", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
              for src in line.split()[:-1]}
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for path in ("pyproject.toml", "README.md", "materializer", "sql_macros"):
        assert path in copied and path not in ignored, f"the image's build needs {path}"


# ---------------------------------------------------------------- the README's walk-through

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    return README[start:README.index("\n## ", start + 1)]


def _kafka_snippet() -> dict:
    block = re.search(r"```yaml\n(.*?)```", _section("Run on Materialize"), re.DOTALL).group(1)
    return yaml.safe_load(block)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def test_the_readme_kafka_source_uses_the_compose_listeners():
    kafka = _kafka_snippet()["sources"]["transactions"]["kafka"]
    advertised = listeners(flags(SERVICES["redpanda"]["command"])["advertise-kafka-addr"])
    assert kafka["broker"] == advertised["internal"]  # the engine, inside the network
    assert kafka["client_broker"] == advertised["external"]  # push, from the host
    assert int(kafka["client_broker"].rsplit(":", 1)[1]) in published(SERVICES["redpanda"])


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_the_readme_kafka_source_is_a_valid_project(engine: str):
    from materializer.definitions.spec import Source

    if "kafka" not in getattr(Source, "__dataclass_fields__", {}):
        pytest.skip("this build has no `kafka:` source key yet")
    raw = _merge(yaml.safe_load(PROJECT_YML), {**_kafka_snippet(), "engine": engine})
    spec = parse_project(raw)
    kafka = spec.sources["transactions"].kafka
    assert (kafka.broker, kafka.topic, kafka.client_broker) == ("redpanda:9092", "transactions", "localhost:19092")


def test_the_readme_compose_commands_name_real_profiles_services_and_addresses():
    text = _section("Run on Materialize") + _section("Run on RisingWave")
    assert "docker compose exec" not in text  # without --profile, a profile's services are not in the model
    profiles = set(re.findall(r"docker compose --profile (\S+)", text))
    assert profiles == set(PROFILES)
    for section, profile in (("Run on Materialize", "materialize"), ("Run on RisingWave", "risingwave")):
        assert set(re.findall(r"docker compose --profile (\S+)", _section(section))) == {profile}
    named = set(re.findall(r"docker compose --profile \S+ exec (?:-T )?(\S+)", text))
    named |= {w for m in re.findall(r"--force-recreate((?:\s+[\w-]+)+)", text) for w in m.split()}
    assert named and named <= set(SERVICES), named - set(SERVICES)
    for engine, (_, port, user, db) in ENGINE_SQL.items():
        dsn = f"MATERIALIZER_DSN=postgresql://{user}@localhost:{port}/{db}"
        assert dsn in _section(f"Run on {TITLES[engine]}")
        assert published(SERVICES[engine])[port] == ("127.0.0.1", port)
    assert f"localhost:{SERVE_PORT}/get-online-features" in text and f"localhost:{SERVE_PORT}/readyz" in text
    assert "localhost:3000" in text and published(SERVICES["grafana-materialize"])[3000][1] == 3000
    # commands that cannot run here are ```sh, never ```console (which tests/test_readme.py runs)
    for block in re.findall(r"```(\w*)\n(.*?)```", text, re.DOTALL):
        assert block[0] != "console", "a console block in the stack's walk-through would run in the tests"
