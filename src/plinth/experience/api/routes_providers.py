"""The installed providers over HTTP: read-only, for any signed-in user.

Every entry point of the group ``plinth.providers`` is listed, with the
distribution that registers it, whether this control plane uses it (the
providers its registry holds: ``Settings.providers``), and each resource type's
JSON Schema. A provider this control plane does not use is built once per request
on a throwaway data directory, only to ask for its types. A provider that fails
to import or to build is listed with its error instead of failing the request.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from plinth.core.errors import NotFound
from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep, paged
from plinth.infrastructure.providers.base import Provider, ProviderContext
from plinth.orchestration.platform import Platform

__all__ = ["installed_providers", "router"]

router = APIRouter(prefix="/api/v1", tags=["providers"])

GROUP = "plinth.providers"


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _types(provider: Provider) -> list[dict[str, Any]]:
    """Return ``[{name, schema}]`` for each resource type, sorted by name."""
    declared = provider.resource_types()
    return [{"name": name, "schema": dict(declared[name])} for name in sorted(declared)]


def _probe(factory: Callable[[ProviderContext], Provider], settings: Mapping[str, Any]) -> Any:
    """Build a provider on a throwaway data directory; return its types."""
    with tempfile.TemporaryDirectory(prefix="plinth-provider-probe-") as folder:
        context = ProviderContext(
            data_dir=Path(folder), secret_key=secrets.token_bytes(32), settings=settings
        )
        provider = factory(context)
        try:
            return _types(provider)
        finally:
            close = getattr(provider, "close", None)
            if callable(close):
                close()


def _describe(ep: EntryPoint, live: Provider | None, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return what one entry point offers (or why it cannot be used)."""
    item: dict[str, Any] = {
        "name": ep.name,
        "enabled": live is not None,
        "entry_point": ep.value,
        "package": ep.dist.name if ep.dist else None,
        "version": ep.dist.version if ep.dist else None,
        "error": None,
        "types": [],
    }
    try:
        item["types"] = _types(live) if live is not None else _probe(ep.load(), settings)
    except Exception as exc:  # a broken plugin is reported, not fatal
        item["error"] = _error(exc)
    return item


def installed_providers(platform: Platform) -> list[dict[str, Any]]:
    """Return every installed provider (and any registered in process), sorted by name."""
    live = {p.name: p for p in platform.registry.providers()}
    settings = dict(platform.settings.provider_settings)
    found: dict[str, dict[str, Any]] = {}
    for ep in entry_points(group=GROUP):
        if ep.name not in found:  # the first distribution on the path wins, as on import
            found[ep.name] = _describe(ep, live.get(ep.name), settings)
    for name, provider in live.items():
        if name not in found:  # built by the embedder, not through an entry point
            found[name] = {
                "name": name,
                "enabled": True,
                "entry_point": None,
                "package": None,
                "version": None,
                "error": None,
                "types": _types(provider),
            }
    return [found[name] for name in sorted(found)]


@router.get("/providers")
def list_providers(
    platform: PlatformDep,
    actor: ActorDep,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Installed providers: package, version, enabled here, types with their JSON Schemas."""
    return paged(installed_providers(platform), limit, page_token)


@router.get("/providers/{name}")
def show_provider(name: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """One installed provider, with its types' JSON Schemas (404 when not installed)."""
    installed = installed_providers(platform)
    for item in installed:
        if item["name"] == name:
            return item
    known = ", ".join(item["name"] for item in installed) or "none"
    raise NotFound(f"no provider named {name!r} is installed (installed: {known})")
