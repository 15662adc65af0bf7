"""The ``deployment:`` key: where Materialize maintains the views and where it serves lookups.

```yaml
deployment:
  compute_cluster: {name: compute, size: 100cc}   # materialized views (IN CLUSTER compute)
  serving_cluster: {name: serving, size: 25cc}    # lookup indexes (IN CLUSTER serving); serve uses it
```

Materialize's clusters are pools of compute; an index lives in the memory of one cluster and only a
session using that cluster reads it ("Indexes are local to a cluster": doc/user/content/concepts/
indexes.md, "Indexes and clusters"). Its production guidance is a tier of clusters for compute
(materialized views) and another for serving queries, including indexes
(doc/user/data/best_practices/three_tier_architecture.yml).

Both default to ``quickstart`` with no size: the cluster every Materialize region and the emulator
start with (doc/user/content/sql/create-cluster.md, "Initial state"), which apply never creates. A
cluster given a ``size`` is created by apply when absent (``CREATE CLUSTER c (SIZE = '...')``) and
never dropped or resized; a named cluster without a size must exist already. On PostgreSQL and
RisingWave, which have no clusters, the key is validated and ignored (``materializer compile`` says so
in its header line).

The top-level ``cluster: c`` of earlier versions still works: both clusters are ``c``, without a size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from materializer.definitions.checks import Problems, check_keys, identifier, mapping
from materializer.errors import did_you_mean

DEFAULT_CLUSTER = "quickstart"
KEYS = ("compute_cluster", "serving_cluster")
CLUSTER_KEYS = ("name", "size")

#: Cluster sizes Materialize documents: the M.1 sizes (doc/user/data/m1_cluster_sizing.yml, listed by
#: doc/user/content/sql/create-cluster.md "Available sizes") and the legacy cc sizes (same page, "Legacy
#: cc Clusters"; the M.1/cc mapping: doc/user/data/cc_m1_mapping.yml).
M1_SIZES = ("M.1-nano", "M.1-micro", "M.1-xsmall", "M.1-small", "M.1-medium", "M.1-large", "M.1-1.5xlarge",
            "M.1-2xlarge", "M.1-3xlarge", "M.1-4xlarge", "M.1-8xlarge", "M.1-16xlarge", "M.1-32xlarge",
            "M.1-64xlarge", "M.1-128xlarge")
CC_SIZES = ("25cc", "50cc", "100cc", "200cc", "300cc", "400cc", "600cc", "800cc", "1200cc", "1600cc", "3200cc",
            "6400cc", "128C", "256C", "512C")
SIZES = M1_SIZES + CC_SIZES
#: The sizes the emulator accepts (the image the compose file pins): its entrypoint sets
#: ``allowed_cluster_replica_sizes`` to 25cc ... 3200cc (misc/images/materialized/entrypoint.sh,
#: ``MZ_CLUSTER_REPLICA_SIZES`` and ``MZ_SYSTEM_PARAMETER_DEFAULT``); self-managed Materialize's defaults
#: are these and 6400cc (doc/user/data/self_managed/self_managed_cluster_sizes.yml). The M.1 sizes,
#: 128C, 256C and 512C exist on Materialize Cloud only: "unknown cluster replica size" elsewhere
#: (test/testdrive/cc_cluster_sizes.td). So the examples use cc sizes, which every deployment has.
EMULATOR_SIZES = CC_SIZES[:CC_SIZES.index("3200cc") + 1]


@dataclass(frozen=True)
class Cluster:
    """A Materialize cluster: its name, and the size apply creates it with when absent (None: it must exist)."""

    name: str = DEFAULT_CLUSTER
    size: str | None = None

    def create_sql(self) -> str | None:
        """``create cluster c (size = '...')`` (doc/user/content/sql/create-cluster.md), or None without a size."""
        return f"create cluster {self.name} (size = '{self.size}')" if self.size else None


@dataclass(frozen=True)
class Deployment:
    """Where materialized views run (``compute``) and where lookup indexes live (``serving``)."""

    compute: Cluster = field(default_factory=Cluster)
    serving: Cluster = field(default_factory=Cluster)

    @property
    def clusters(self) -> list[Cluster]:
        """The distinct clusters, compute first."""
        return [self.compute] + ([self.serving] if self.serving.name != self.compute.name else [])


def parse_deployment(p: Problems, raw: Any, legacy_cluster: Any) -> Deployment:
    """``deployment: {compute_cluster: {name, size}, serving_cluster: {name, size}}``, or the legacy
    top-level ``cluster:`` (both clusters, no size); each problem added to ``p`` with its key path."""
    if raw is None:
        name = identifier(p, "cluster", legacy_cluster, "cluster") if legacy_cluster is not None else DEFAULT_CLUSTER
        cluster = Cluster(name or DEFAULT_CLUSTER)
        return Deployment(cluster, cluster)
    if legacy_cluster is not None:
        p.add("cluster", "give the clusters in `deployment:` only (compute_cluster and serving_cluster); "
                         "remove the top-level `cluster:`")
    if mapping(p, "deployment", raw, "compute_cluster and serving_cluster") is None:
        return Deployment()
    check_keys(p, "deployment", raw, KEYS)
    clusters = [_cluster(p, f"deployment.{key}", raw.get(key)) for key in KEYS]
    compute, serving = clusters
    if compute.name == serving.name and compute.size != serving.size and compute.size and serving.size:
        p.add("deployment.serving_cluster.size",
              f"cluster {compute.name} is given two sizes ({compute.size}, {serving.size}); give one size, "
              "or two cluster names")
    return Deployment(compute, serving)


def _cluster(p: Problems, path: str, raw: Any) -> Cluster:
    if raw is None:
        return Cluster()
    if isinstance(raw, str):  # `serving_cluster: serving` as a shorthand for {name: serving}
        return Cluster(identifier(p, path, raw, "cluster") or DEFAULT_CLUSTER)
    if mapping(p, path, raw, "name and size") is None:
        return Cluster()
    check_keys(p, path, raw, CLUSTER_KEYS)
    name = identifier(p, f"{path}.name", raw.get("name", DEFAULT_CLUSTER), "cluster") or DEFAULT_CLUSTER
    size = raw.get("size")
    if size is not None:
        size = str(size)
        if size not in SIZES:
            near = did_you_mean(size, SIZES)
            p.add(f"{path}.size", f"'{size}' is not a Materialize cluster size{near}; use an M.1 size "
                                  f"({', '.join(M1_SIZES[:6])}, ...) or a cc size ({', '.join(CC_SIZES[:4])}, ...)")
            size = None
        elif name == DEFAULT_CLUSTER:
            p.add(f"{path}.size", f"{DEFAULT_CLUSTER} is the cluster Materialize starts with and apply never "
                                  "creates or resizes it; remove the size, or name another cluster")
            size = None
    return Cluster(name, size)
