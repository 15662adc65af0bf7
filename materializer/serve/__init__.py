"""The HTTP server (``materializer serve``): Feast-compatible online features, push, the catalog,
monitor reads and operations routes. ``create_app(project)`` builds the ASGI app (``app``);
``run`` starts uvicorn; ``lookup``, ``push``, ``monitors`` answer the routes; ``database`` holds
the async connections; ``telemetry`` the Prometheus metrics; ``openapi`` the schema and /docs."""

from materializer.serve.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
