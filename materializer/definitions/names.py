"""The names of the objects apply creates, and PostgreSQL's 63-byte limit on them.

PostgreSQL keeps the first 63 bytes of a name and silently drops the rest, so two long names
that share their first 63 bytes become one object, and a column read back by its full name is
missing. Every name that the SQL creates is built here from the project's names (the macros
build the monitor maintenance names the same way, see ``monitor_maintenance.sql``):

- names a user reads or that other SQL builds from a project name (views, tables, columns,
  monitor functions and triggers, check constraints) must fit as written: validation refuses a
  project otherwise, naming the key to shorten (``check_names``);
- internal names nobody types (indexes) are shortened when too long, keeping a hash of the whole
  so that they stay distinct (``fit``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from materializer.definitions.checks import MAX_NAME_BYTES, Problems, name_bytes

if TYPE_CHECKING:
    from materializer.definitions.spec import ProjectSpec, Source

# `<monitor>__<kind>`: views (and the reference bins table) in the project's schema
MONITOR_OBJECTS = ("scored", "metrics", "timeseries", "versions", "drift", "reference")
# in the `materializer` schema, for monitors maintained by triggers (PostgreSQL)
MAINTENANCE_TABLES = ("state", "cells", "drift_cells")
MAINTENANCE_FUNCTIONS = ("on_predictions", "on_outcomes", "on_reference", "refresh", "rebuild", "recount_drift")
MAINTENANCE_TRIGGERS = tuple(f"{side}_{event}" for side in ("predictions", "outcomes", "reference")
                             for event in ("insert", "update", "delete", "truncate"))
# the longest name a monitor's own name is part of
MONITOR_SUFFIX_BYTES = max(len(s) for s in (*MONITOR_OBJECTS, *MAINTENANCE_TABLES, *MAINTENANCE_FUNCTIONS,
                                            *MAINTENANCE_TRIGGERS)) + 2
_HASH_CHARS = 8


def fit(name: str) -> str:
    """An internal name that fits in 63 bytes: ``name`` itself when it fits, else its head and a hash
    of the whole (``<first 54 bytes>_<8 hex digits>``), so that two long names stay distinct."""
    if name_bytes(name) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    head = name.encode("utf-8")[:MAX_NAME_BYTES - _HASH_CHARS - 1].decode("utf-8", "ignore")
    return f"{head}_{digest}"


def source_indexes(spec: ProjectSpec, source: Source) -> list[tuple[str, tuple[str, ...]]]:
    """(index name, columns) of the indexes on a managed source: the distinct key lists read on it,
    (entity..., ts) of feature views and (id, ts) of monitors, and (ts) alone on a source that feature
    views read, so the time of its newest event (the views' freshness: the catalog, /metrics) is one
    index probe. Names are distinct and fit."""
    keys = [(*v.entity, source.timestamp) for v in spec.feature_views.values() if v.source.name == source.name]
    if keys:
        keys.append((source.timestamp,))
    for m in spec.monitors.values():
        for side in (m.predictions, m.outcomes):
            if side.source.name == source.name:
                keys.append((side.id, side.timestamp))
    out: list[tuple[str, tuple[str, ...]]] = []
    prefix = source.table.replace(".", "_")
    for cols in dict.fromkeys(keys):
        name = fit(f"{prefix}__{'_'.join(cols)}__idx")
        if any(name == other for other, _ in out):  # (a_b, ts) and (a, b_ts) spell the same
            name = fit(f"{prefix}__{'__'.join(cols)}__idx")
        out.append((name, cols))
    return out


def view_index(view: str) -> str:
    """The name of a feature view's lookup index (Materialize)."""
    return fit(f"{view}__lookup_idx")


def monitor_names(monitor: str) -> list[tuple[str, str]]:
    """(what, name) of every object named after a monitor, schema-qualified where it has one."""
    return ([(f"view {monitor}__{k}", f"{monitor}__{k}") for k in MONITOR_OBJECTS]
            + [(f"table materializer.{monitor}__{k}", f"{monitor}__{k}") for k in MAINTENANCE_TABLES]
            + [(f"function materializer.{monitor}__{k}", f"{monitor}__{k}") for k in MAINTENANCE_FUNCTIONS]
            + [(f"trigger {monitor}__{k}", f"{monitor}__{k}") for k in MAINTENANCE_TRIGGERS])


def _too_long(name: str) -> str:
    return f"{name_bytes(name)} bytes; PostgreSQL keeps only the first {MAX_NAME_BYTES} bytes of a name"


def check_names(p: Problems, spec: ProjectSpec) -> None:
    """Refuse names the SQL would create longer than 63 bytes, and two objects of one name."""
    for view in spec.feature_views.values():
        for out in view.output_features:
            size = name_bytes(out.name)
            if size > MAX_NAME_BYTES:
                room = MAX_NAME_BYTES - (size - name_bytes(out.feature.name))
                p.add(f"feature_views.{view.name}.features.{out.feature.name}",
                      f"its column {out.name} (window {out.window}) would be {_too_long(out.name)}; "
                      f"shorten the feature name to at most {room} bytes")
                break
    for m in spec.monitors.values():
        what, longest = max(monitor_names(m.name), key=lambda item: name_bytes(item[1]))
        if name_bytes(longest) > MAX_NAME_BYTES:
            p.add(f"monitors.{m.name}", f"its {what} would be {_too_long(longest)}; shorten the monitor name "
                                        f"to at most {MAX_NAME_BYTES - MONITOR_SUFFIX_BYTES} bytes")
        # row check constraints (definitions/row_checks.py) shorten their own names with a hash
    _check_distinct(p, spec)


def _objects(spec: ProjectSpec) -> list[tuple[str, str, str, str]]:
    """(name, what, key path, the fix) of every table, view and index apply creates in the project's
    schema, in the order of the project file."""
    objects = []
    for s in spec.sources.values():
        if s.managed:
            objects.append((s.table, f"the table of source '{s.name}'", f"sources.{s.name}", "rename the source"))
            if s.streaming:
                objects.append((f"{s.table}__raw", f"the stream of source '{s.name}'", f"sources.{s.name}",
                                "rename the source"))
            if s.backfill:
                objects.append((s.relation, f"the backfill view of source '{s.name}'", f"sources.{s.name}",
                                "rename the source"))
            for name, cols in source_indexes(spec, s):
                objects.append((name, f"the index on {s.name} ({', '.join(cols)})", f"sources.{s.name}",
                                "rename the source"))
    for v in spec.feature_views.values():
        objects.append((v.name, f"feature view '{v.name}'", f"feature_views.{v.name}", "rename the view"))
        objects.append((view_index(v.name), f"the lookup index of view '{v.name}'", f"feature_views.{v.name}",
                        "rename the view"))
    for m in spec.monitors.values():
        kinds = ["scored", "metrics", "timeseries"] + (["versions"] if m.version else []) + (
            ["drift", "reference"] if m.reference_relation else [])
        for kind in kinds:
            what = f"the {kind} {'table' if kind == 'reference' else 'view'} of monitor '{m.name}'"
            objects.append((m.view(kind), what, f"monitors.{m.name}", "rename the monitor"))
    return objects


def _check_distinct(p: Problems, spec: ProjectSpec) -> None:
    # relations that exist already in the current schema (external sources, references) cannot be
    # created again; a managed table may be read through an external source too
    existing = {s.relation: f"the existing relation of source '{s.name}'"
                for s in spec.sources.values() if not s.managed and "." not in s.relation}
    for m in spec.monitors.values():
        if m.reference_relation and "." not in m.reference_relation:
            existing.setdefault(m.reference_relation, f"the reference relation of monitor '{m.name}'")
    created: dict[str, str] = {}
    reported: set[str] = set()
    for name, what, path, fix in _objects(spec):
        other = created.get(name) or (None if what.startswith("the table of source") else existing.get(name))
        if other is not None:
            if path not in reported:
                p.add(path, f"'{name}', {what}, is also {other}; {fix}")
                reported.add(path)
            continue
        created[name] = what
