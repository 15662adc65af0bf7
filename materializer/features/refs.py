"""Feature references: ``view:feature``, ``view:*`` and feature service names, resolved against the project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from materializer.errors import InputError, NotFoundError, did_you_mean

if TYPE_CHECKING:
    from materializer.project import Project


def expand_features(project: Project, refs: list[str]) -> list[tuple[str, str]]:
    """``view:feature``, ``view:*`` or feature service names -> ``(view, feature)`` pairs in request order,
    each once. Unknown names are NotFoundErrors listing the candidates."""
    services = project.spec.feature_services
    views: dict[str, Any] = {**project.spec.feature_views, **project.spec.on_demand}
    expanded: list[str] = []
    for ref in refs:
        ref = ref.strip()
        if not ref:
            continue
        if ":" not in ref:
            if ref not in services:
                raise NotFoundError(
                    f"{ref!r} is neither a feature reference (view:feature) nor a feature service"
                    f"{did_you_mean(ref, services)}; feature services: {', '.join(services) or '(none)'}")
            expanded.extend(services[ref])
        else:
            expanded.append(ref)
    pairs: dict[tuple[str, str], None] = {}
    for ref in expanded:
        view_name, _, feature = ref.partition(":")
        if view_name not in views:
            raise NotFoundError(f"unknown feature view {view_name!r} in {ref!r}{did_you_mean(view_name, views)}; "
                                f"known views: {', '.join(views)}")
        names = views[view_name].feature_names
        for name in names if feature == "*" else [feature]:
            if name not in names:
                raise NotFoundError(f"unknown feature {ref!r}{did_you_mean(feature, names)}; "
                                    f"features of {view_name}: {', '.join(names)}")
            pairs[(view_name, name)] = None
    if not pairs:
        raise InputError("no features requested; pass --features view:feature,... or view:*")
    return list(pairs)


def resolve_features(project: Project, refs: list[str]) -> dict[str, list[str]]:
    """``view:feature``, ``view:*`` or a feature service name -> {view: [feature, ...]} in request order."""
    wanted: dict[str, list[str]] = {}
    for view_name, feature in expand_features(project, refs):
        wanted.setdefault(view_name, []).append(feature)
    return wanted
