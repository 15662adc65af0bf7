"""Feast's own client reads from `materializer serve` unchanged.

A Feast repository whose online store is `type: remote`, pointing at a running `materializer
serve`, calls `FeatureStore.get_online_features` (by feature references, with full feature names,
and by a feature service registered on the Feast side under the same name); the values must equal
the independent reference of the project's semantics. Feast runs in a subprocess (its imports and
logging stay out of this process); it is a test dependency (the `dev` extra), so this runs in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import reference
from tests.test_serve import SERVE_PROJECT
from tests.test_serve_process import Server
from tests.test_values import ACTIVITY, TIMES, WINDOWS, close, generate, load

# found, not imported: importing feast sets PROMETHEUS_MULTIPROC_DIR in this process, which turned the
# Prometheus counters of the in-process servers of tests/test_serve.py into one shared set
if importlib.util.find_spec("feast") is None:
    pytest.skip("Feast is in the dev extra: pip install -e '.[dev]'", allow_module_level=True)

FEAST_REPO = """
project: fraud
registry: data/registry.db
provider: local
online_store:
  type: remote
  path: {url}
entity_key_serialization_version: 3
"""

FEAST_DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

card = Entity(name="card", join_keys=["cc_num"], value_type=ValueType.STRING)
# the Feast side only needs the names: the values come from materializer serve
source = FileSource(path="data/unused.parquet", timestamp_field="ts")
activity = FeatureView(name="activity", entities=[card], ttl=timedelta(days=1), source=source, online=True,
                       schema=[Field(name="n_1h", dtype=Int64), Field(name="total_1d", dtype=Float64)])
fraud_v1 = FeatureService(name="fraud_v1", features=[activity[["n_1h", "total_1d"]]])
"""

CLIENT = """
import json, sys
from feast import FeatureStore
store = FeatureStore(repo_path=sys.argv[1])
keys = json.loads(sys.argv[2])
rows = [{"cc_num": k} for k in keys]
out = {
    "refs": store.get_online_features(features=["activity:n_1h", "activity:mean_1d", "last:last_amount"],
                                      entity_rows=rows).to_dict(),
    "full": store.get_online_features(features=["activity:n_10m"], entity_rows=rows,
                                      full_feature_names=True).to_dict(),
    "service": store.get_online_features(features=store.get_feature_service("fraud_v1"),
                                         entity_rows=rows).to_dict(),
}
print(json.dumps(out, default=str))
"""


def test_feast_remote_client_reads_correct_values(make_project, pg_dsn, tmp_path):
    project = make_project(SERVE_PROJECT)
    events = generate(11)
    load(project, events)
    t = TIMES[1]
    server = Server(project.root, pg_dsn, "--as-of", t.isoformat())
    try:
        repo = tmp_path / "feast_repo"
        (repo / "data").mkdir(parents=True)
        (repo / "feature_store.yaml").write_text(FEAST_REPO.format(url=server.url))
        (repo / "definitions.py").write_text(textwrap.dedent(FEAST_DEFINITIONS))
        env = {**os.environ, "FEAST_USAGE": "False", "PYTHONWARNINGS": "ignore"}
        applied = subprocess.run([str(Path(sys.executable).parent / "feast"), "apply"], cwd=repo, env=env,
                                 capture_output=True, text=True, timeout=300)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        keys = ["c1", "c2", "c7", "ghost", "ünï-キー-💳"]
        run = subprocess.run([sys.executable, "-c", CLIENT, str(repo), json.dumps(keys)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        got = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    assert got["refs"]["cc_num"] == keys and got["service"]["cc_num"] == keys
    latest_features = {"last_amount": "amount"}
    for i, key in enumerate(keys):
        want, _ = reference.windowed(events, (key,), ["cc_num"], "ts", t, WINDOWS, ACTIVITY)
        last, _ = reference.latest(events, (key,), ["cc_num"], "ts", t, latest_features,
                                   max_age=__import__("datetime").timedelta(hours=2))
        assert got["refs"]["n_1h"][i] == want["n_1h"], key
        assert close(got["refs"]["mean_1d"][i], want["mean_1d"]), key
        assert close(got["refs"]["last_amount"][i], last["last_amount"]), key
        assert got["full"]["activity__n_10m"][i] == want["n_10m"], key
        assert got["service"]["n_1h"][i] == want["n_1h"], key
        assert close(got["service"]["total_1d"][i], want["total_1d"]), key
