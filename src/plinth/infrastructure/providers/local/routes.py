"""The ``route`` resource type: a local URL in front of a backend, kept in a small registry.

Each route is one JSON file under ``<data_dir>/routes``; nothing listens on its
behalf, so its URL is the backend's URL plus the route's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plinth.infrastructure.providers.base import Observation, Resource, Usage
from plinth.infrastructure.providers.local.health import http_status
from plinth.infrastructure.providers.local.layout import Layout, read_json, write_json_atomic
from plinth.infrastructure.providers.local.specs import spec_digest, validate_spec

__all__ = ["Routes", "route_url"]


def route_url(spec: Mapping[str, Any]) -> str:
    """Return the URL a route answers on."""
    path = str(spec.get("path") or "")
    if path and not path.startswith("/"):
        path = "/" + path
    return str(spec["backend_url"]).rstrip("/") + path


class Routes:
    """Applies, observes and destroys routes."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Record the route in the registry."""
        spec = validate_spec("route", resource.spec)
        entry = {
            "resource_id": resource.id,
            "host": spec["host"],
            "path": spec["path"],
            "port": spec["port"],
            "url": route_url(spec),
            "digest": spec_digest(spec),
        }
        write_json_atomic(self.layout.route_file(resource.id), entry)
        return self.observe(resource, state)

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report the registered route and whether its URL answers (any status below 500)."""
        entry = read_json(self.layout.route_file(resource.id))
        if not isinstance(entry, dict):
            return Observation(exists=False, phase="absent", state={})
        status = http_status(str(entry["url"]))
        healthy = status is not None and status < 500
        return Observation(
            exists=True,
            phase="ready",
            healthy=healthy,
            outputs={"host": entry["host"], "path": entry["path"], "url": entry["url"]},
            state={"url": entry["url"]},
            applied_digest=entry.get("digest"),
            message="" if healthy else f"{entry['url']} does not answer",
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Remove the route from the registry."""
        self.layout.route_file(resource.id).unlink(missing_ok=True)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return zero: a route consumes nothing metered."""
        return Usage()
