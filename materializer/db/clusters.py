"""Materialize's clusters of ``deployment:``: created by apply when given a size and absent, never dropped.

The clusters a project names are read from ``mz_catalog.mz_clusters`` (doc/user/content/sql/
system-catalog/mz_catalog.md); a missing one with a size is created with ``CREATE CLUSTER c (SIZE =
'...')`` (doc/user/content/sql/create-cluster.md), a DDL statement run alone; a missing one without a
size is an error naming the key to set. A cluster is never altered or dropped by apply: resizing
restarts its replicas (doc/user/content/sql/alter-cluster.md, "Resizing"), which is the operator's
call.

Sessions name the serving cluster when they connect (``set cluster = serving``); for a cluster that
does not exist yet Materialize answers with a notice, not an error (``AdapterNotice::
ClusterDoesNotExist``, src/adapter/src/notice.rs), so apply connects, creates the missing clusters
first, and only then reads its bookkeeping table, which needs the session's cluster.
"""

from __future__ import annotations

import psycopg

from materializer.definitions.deployment import KEYS, Cluster
from materializer.definitions.spec import ProjectSpec
from materializer.errors import MaterializerError

CLUSTERS_QUERY = "select name from mz_catalog.mz_clusters"


def missing_clusters(conn: psycopg.Connection, spec: ProjectSpec, where: str) -> list[Cluster]:
    """The project's clusters absent from the engine, each with a size (apply creates them); a
    MaterializerError when one without a size is absent."""
    present = {row[0] for row in conn.execute(CLUSTERS_QUERY).fetchall()}
    d = spec.deployment
    missing = []
    for key, cluster in zip(KEYS, (d.compute, d.serving)):
        if cluster.name in present or cluster in missing:
            continue
        if not cluster.size:
            raise MaterializerError(
                f"deployment.{key}: cluster {cluster.name} does not exist on {where}; give it a size "
                f"(deployment.{key}.size, for example 25cc; M.1 sizes on Materialize Cloud only) for apply to create it, or create it "
                "with CREATE CLUSTER")
        missing.append(cluster)
    return missing
