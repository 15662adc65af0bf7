"""The server's OpenAPI 3.1 description, built from the project, and the ``/docs`` page.

The schema names the project's own views, sources and monitors (as enums), so a client
generator or a fuzzer sees exactly what can be asked. ``/docs`` renders the same schema as a
plain HTML page: no script, no CDN, readable offline.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from materializer.project import Project
    from materializer.serve.app import ServeSettings

STATUSES = ["PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE"]
ERROR = {"$ref": "#/components/schemas/Error"}
_NULLABLE_OBJECT = ["object", "null"]
#: A source in /catalog: its columns (null when not declared) and how its events arrive.
SOURCE = {
    "type": "object",
    "required": ["name", "relation", "managed", "timestamp", "columns", "stream", "backfill"],
    "properties": {
        "name": {"type": "string"}, "relation": {"type": "string"}, "managed": {"type": "boolean"},
        "timestamp": {"type": "string"},
        "columns": {"type": _NULLABLE_OBJECT, "additionalProperties": {"type": "string"}},
        "stream": {
            "description": "The Kafka topic or webhook the source reads on a streaming engine; null for a table "
                           "that push writes or an external relation. Holds no credentials.",
            "oneOf": [
                {"type": "null"},
                {"type": "object", "required": ["kind", "topic", "start", "broker"], "properties": {
                    "kind": {"const": "kafka"}, "topic": {"type": "string"},
                    "start": {"type": "string", "enum": ["earliest", "latest"]},
                    "broker": {"type": "string", "description": "host:port as the engine reaches it"}}},
                {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "webhook"}}},
            ]},
        "backfill": {
            "description": "History read before the cutover: `relation` holds the events before `until`.",
            "oneOf": [{"type": "null"},
                      {"type": "object", "required": ["relation", "until"], "properties": {
                          "relation": {"type": "string"}, "until": {"type": "string", "format": "date-time"}}}]},
    },
}
ANY: dict[str, Any] = {}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _path(name: str, values: list[str], description: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if values:
        schema["enum"] = values
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def openapi_schema(project: Project, settings: ServeSettings) -> dict[str, Any]:
    spec = project.spec
    views = [*spec.feature_views, *spec.on_demand]
    sources = [name for name, s in spec.sources.items() if s.managed]
    monitors = list(spec.monitors)
    keys = sorted({k for v in spec.feature_views.values() for k in v.entity}
                  | {f for od in spec.on_demand.values() for f in od.request})
    common = {"401": _error("Missing or wrong bearer token."), "422": _error("A bad value in the request."),
              "503": _error("The database is unreachable; retry after the Retry-After seconds.")}
    body_errors = {"413": _error("Over the body size or entity limit."), "415": _error("The body is not JSON.")}
    example_view = next(iter(spec.feature_views.values()), None)
    example_request = {
        "features": [f"{example_view.name}:{example_view.feature_names[0]}"] if example_view else [],
        "entities": {k: ["..."] for k in (example_view.entity if example_view else ())},
        "full_feature_names": False,
    }
    metrics_query = [_query("window", "One of the monitor's windows (default: its first)."),
                     _query("as_of", "Evaluate at this time (ISO 8601; PostgreSQL only).",
                            {"type": "string", "format": "date-time"})]
    monitor = _path("name", monitors, "A monitor of the project.")
    paths: dict[str, Any] = {
        "/get-online-features": {"post": {
            "summary": "Online features, in Feast's feature-server format",
            "description": "Features by reference (`view:feature`, `view:*`) or a feature service, for entities "
                           "given column-wise (request fields of on-demand features as more columns). One query "
                           f"per view for all entities; at most {settings.max_entities} entities per request.",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/GetOnlineFeaturesRequest"}, "example": example_request}}},
            "responses": {"200": _json({"$ref": "#/components/schemas/GetOnlineFeaturesResponse"}),
                          "404": _error("An unknown view, feature or feature service."), **common, **body_errors},
        }},
        "/features/{view}": {"get": {
            "summary": "The features of one entity (the JSON of `materializer features --json`)",
            "parameters": [_path("view", views, "A feature view or on-demand view."),
                           *[_query(k, "An entity key or request field of the view.") for k in keys],
                           _query("as_of", "Evaluate at this time (ISO 8601; PostgreSQL only).",
                                  {"type": "string", "format": "date-time"})],
            "responses": {"200": _json({"$ref": "#/components/schemas/EntityFeatures"}),
                          "404": _error("An unknown view."), **common},
        }},
        "/push/{source}": {"post": {
            "summary": "Insert rows into a source, all or nothing",
            "parameters": [_path("source", sources, "A managed source.")],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [{"type": "array", "items": {"type": "object"}},
                          {"type": "object", "required": ["rows"], "properties": {
                              "rows": {"type": "array", "items": {"type": "object"}}}},
                          {"type": "object", "required": ["df"], "properties": {
                              "df": {"type": "object", "additionalProperties": {"type": "array"}}}}]}}}},
            "responses": {"200": _json({"$ref": "#/components/schemas/Pushed"}),
                          "404": _error("An unknown source."), **common, **body_errors},
        }},
        "/push": {"post": {
            "summary": "Feast's push: rows of a push source, column-wise",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["push_source_name", "df"], "properties": {
                    "push_source_name": {"type": "string", "enum": sources} if sources else {"type": "string"},
                    "df": {"type": "object", "additionalProperties": {"type": "array"}},
                    "to": {"type": "string", "enum": ["online", "offline", "online_and_offline"]},
                    "allow_registry_cache": {"type": "boolean"}, "transform_on_write": {"type": "boolean"}}}}}},
            "responses": {"200": _json({"$ref": "#/components/schemas/Pushed"}),
                          "404": _error("An unknown source."), **common, **body_errors},
        }},
        "/catalog": {"get": {
            "summary": "Every source, feature view, feature, service and monitor, with freshness",
            "responses": {"200": _json({"type": "object", "required": ["project", "engine", "feature_views"],
                                        "properties": {"sources": {"type": "array", "items": SOURCE}}}),
                          **common}}},
        "/monitors": {"get": {"summary": "The project's monitors",
                              "responses": {"200": _json({"type": "object", "required": ["monitors"]}), **common}}},
        "/monitors/{name}/metrics": {"get": {
            "summary": "Metrics of a window, overall or by version or segment (`materializer metrics --json`)",
            "parameters": [monitor, *metrics_query, _query("by", "`version` or a segment column.")],
            "responses": {"200": _json({"$ref": "#/components/schemas/Metrics"}),
                          "404": _error("An unknown monitor."), **common}}},
        "/monitors/{name}/timeseries": {"get": {
            "summary": "Metrics per time bucket, oldest first",
            "parameters": [monitor, _query("by", "`version` or a segment column."), metrics_query[1],
                           _query("since", "Leave out buckets before this time (ISO 8601).",
                                  {"type": "string", "format": "date-time"})],
            "responses": {"200": _json({"type": "object", "required": ["monitor", "buckets"]}),
                          "404": _error("An unknown monitor."), **common}}},
        "/monitors/{name}/versions": {"get": {
            "summary": "Model versions compared pairwise, with significance",
            "parameters": [monitor, *metrics_query],
            "responses": {"200": _json({"type": "object", "required": ["monitor", "window", "comparisons"]}),
                          "404": _error("An unknown monitor."), **common}}},
        "/monitors/{name}/drift": {"get": {
            "summary": "Drift of the score and watched features against the stored reference",
            "parameters": [monitor, *metrics_query],
            "responses": {"200": _json({"type": "object", "required": ["monitor", "window", "columns"]}),
                          "404": _error("An unknown monitor."), **common}}},
        "/healthz": {"get": {"summary": "The process is up (no token needed)",
                             "responses": {"200": _json({"type": "object"})}}},
        "/readyz": {"get": {"summary": "The database answers (no token needed)",
                            "responses": {"200": _json({"type": "object"}), "503": common["503"]}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text format)", "responses": {
            "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": common["401"]}}},
    }
    if settings.token:
        for item in paths.values():
            for path, operation in item.items():
                if path not in ("/healthz", "/readyz"):
                    operation["security"] = [{"bearer": []}]
    for name in ("/healthz", "/readyz"):
        paths[name]["get"]["security"] = []
    if not settings.token:
        for item in paths.values():
            for operation in item.values():
                operation["responses"].pop("401", None)
    return {
        "openapi": "3.1.0",
        "info": {"title": f"materializer: {project.name}", "version": _version(),
                 "description": f"Online features and model quality of the `{project.name}` project "
                                f"({project.engine})."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
    }


def _schemas() -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "Error": {"type": "object", "required": ["status", "detail"],
                  "properties": {"status": {"type": "integer"}, "detail": {"type": "string"}}},
        "GetOnlineFeaturesRequest": {
            "type": "object", "required": ["entities"],
            "properties": {
                "entities": {"type": "object", "additionalProperties": {"type": "array", "items": ANY},
                             "description": "Entity keys (and request fields) column-wise."},
                "features": {**strings, "description": "`view:feature` or `view:*` references."},
                "feature_service": {"type": "string"},
                "full_feature_names": {"type": "boolean", "default": False},
                "include_feature_view_version_metadata": {"type": "boolean", "description": "Accepted, ignored."},
            }},
        "GetOnlineFeaturesResponse": {
            "type": "object", "required": ["metadata", "results"],
            "properties": {
                "metadata": {"type": "object", "required": ["feature_names"],
                             "properties": {"feature_names": strings}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["values", "statuses", "event_timestamps"],
                    "properties": {"values": {"type": "array", "items": ANY},
                                   "statuses": {"type": "array", "items": {"type": "string", "enum": STATUSES}},
                                   "event_timestamps": {"type": "array",
                                                        "items": {"type": "string", "format": "date-time"}}}}},
            }},
        "EntityFeatures": {
            "type": "object", "required": ["view", "entity", "features", "statuses", "as_of"],
            "properties": {"view": {"type": "string"}, "entity": {"type": "object"},
                           "features": {"type": "object"},
                           "statuses": {"type": "object", "additionalProperties": {"type": "string", "enum": STATUSES}},
                           "as_of": {"type": ["string", "null"], "format": "date-time"}}},
        "Pushed": {"type": "object", "required": ["source", "rows"],
                   "properties": {"source": {"type": "string"}, "rows": {"type": "integer"}}},
        "Metrics": {"type": "object", "required": ["monitor", "window", "as_of", "groups"],
                    "properties": {"monitor": {"type": "string"}, "window": {"type": "string"},
                                   "as_of": {"type": "string", "format": "date-time"},
                                   "groups": {"type": "array", "items": {
                                       "type": "object", "required": ["by", "metrics"],
                                       "properties": {"by": {"type": "object"}, "metrics": {"type": "object"}}}}}},
    }


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("materializer")
    except Exception:  # noqa: BLE001 - not installed (a source checkout)
        return "0"


def docs_page(schema: dict[str, Any]) -> str:
    """A self-contained HTML page describing every route of ``schema``."""
    esc = html.escape
    parts = [f"<h1>{esc(schema['info']['title'])}</h1><p>{esc(schema['info']['description'])} "
             "The machine-readable description is at <a href='/openapi.json'>/openapi.json</a>.</p>"]
    for path, item in schema["paths"].items():
        for method, op in item.items():
            parts.append(f"<section><h2><code>{method.upper()} {esc(path)}</code></h2><p>{esc(op['summary'])}</p>")
            if op.get("description"):
                parts.append(f"<p>{esc(op['description'])}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table><tr><th>parameter</th><th>in</th><th>values</th><th></th></tr>")
                for p in params:
                    values = ", ".join(p["schema"].get("enum", [])) or p["schema"].get("format", "text")
                    parts.append(f"<tr><td><code>{esc(p['name'])}</code></td><td>{p['in']}</td>"
                                 f"<td>{esc(values)}</td><td>{esc(p['description'])}</td></tr>")
                parts.append("</table>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "example" in body:
                parts.append(f"<p>Example body:</p><pre>{esc(json.dumps(body['example'], indent=2))}</pre>")
            statuses = ", ".join(f"{code} {esc(r['description'])}" for code, r in op["responses"].items())
            parts.append(f"<p class='statuses'>Answers: {statuses}</p></section>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
             "line-height:1.45}code,pre{background:#f4f4f4;padding:.1rem .3rem}table{border-collapse:collapse}"
             "td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}.statuses{color:#555}")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(schema['info']['title'])}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
