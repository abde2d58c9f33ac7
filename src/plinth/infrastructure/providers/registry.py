"""Providers by name, from Python entry points (group ``plinth.providers``)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from plinth.core.errors import InvalidInput
from plinth.infrastructure.providers.base import Provider, ProviderContext

__all__ = ["ProviderRegistry", "discover_providers"]

ProviderFactory = Callable[[ProviderContext], Provider]


def discover_providers(names: list[str] | None = None) -> dict[str, ProviderFactory]:
    """Return the provider factories registered through entry points (all, or those named).

    Only the named entry points are imported, so a broken plugin that is installed but
    not enabled cannot stop the control plane; one that is named and fails to import is
    an InvalidInput naming the entry point.
    """
    found: dict[str, ProviderFactory] = {}
    for ep in entry_points(group="plinth.providers"):
        if names is not None and ep.name not in names:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # any import failure of a third-party plugin
            raise InvalidInput(
                f"provider {ep.name!r} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}"
            ) from exc
    return found


class ProviderRegistry:
    """A small typed map from resource type to the provider that realises it."""

    def __init__(self) -> None:
        self._providers: dict[str, Provider] = {}
        self._by_type: dict[str, Provider] = {}

    def register(self, provider: Provider) -> None:
        """Add a provider; a resource type may only have one provider."""
        self._providers[provider.name] = provider
        for type_name in provider.resource_types():
            owner = self._by_type.get(type_name)
            if owner is not None and owner.name != provider.name:
                raise InvalidInput(
                    f"resource type {type_name!r} is already provided by {owner.name!r}"
                )
            self._by_type[type_name] = provider

    def for_type(self, type_name: str) -> Provider:
        """Return the provider for a resource type, or raise InvalidInput."""
        try:
            return self._by_type[type_name]
        except KeyError:
            known = ", ".join(sorted(self._by_type)) or "none"
            raise InvalidInput(
                f"no provider realises resource type {type_name!r} (known: {known})"
            ) from None

    def types(self) -> dict[str, str]:
        """Return ``{resource_type: provider_name}``."""
        return {t: p.name for t, p in sorted(self._by_type.items())}

    def providers(self) -> list[Provider]:
        """Return the registered providers."""
        return list(self._providers.values())

    @classmethod
    def from_entry_points(cls, context: ProviderContext, names: list[str]) -> ProviderRegistry:
        """Build a registry from the installed providers named (``Settings.providers``)."""
        registry = cls()
        factories = discover_providers(names)
        installed = sorted(ep.name for ep in entry_points(group="plinth.providers"))
        for name in names:
            if name not in factories:
                raise InvalidInput(f"unknown provider {name!r}; installed: {installed}")
            registry.register(factories[name](context))
        return registry
