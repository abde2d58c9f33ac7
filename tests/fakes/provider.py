"""``FakeProvider``: an honest in-memory provider for the orchestration tests.

It keeps "the world" in a dict keyed by resource id and follows every rule of
the provider contract (``plinth.infrastructure.providers.base``): ``plan`` only
compares, ``apply`` is idempotent and adopts what exists, ``observe`` reports the
world (not the store), ``destroy`` succeeds when nothing is there, and secret
outputs are named in ``secret_outputs``. Tests can inject ``TemporaryError`` or
``PermanentError`` and simulate drift by changing the world behind its back.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from plinth.core.digest import digest
from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import (
    ChangeAction,
    Observation,
    ProviderChange,
    Resource,
    Usage,
)
from plinth.infrastructure.providers.registry import ProviderRegistry

__all__ = ["FAKE_TYPES", "FakeProvider", "WorldEntry", "registry_with_fake"]

FAKE_TYPES = ("service", "postgres", "volume", "route", "job")
_PHASES = {
    "service": "running",
    "postgres": "ready",
    "volume": "ready",
    "route": "ready",
    "job": "succeeded",
}
_SECRETS = frozenset({"password", "uri"})


@dataclass
class WorldEntry:
    """One thing that exists in the fake world."""

    id: str
    type: str
    name: str
    spec: dict[str, Any]
    applied_digest: str
    outputs: dict[str, Any]
    secret_outputs: frozenset[str] = frozenset()
    healthy: bool = True


@dataclass
class _Injected:
    error: Exception
    times: int | None  # None: every time until cleared


@dataclass
class FakeProvider:
    """Realises ``service``, ``postgres``, ``volume``, ``route`` and ``job`` in a dict."""

    name: ClassVar[str] = "fake"
    world: dict[str, WorldEntry] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _failures: dict[tuple[str, str], _Injected] = field(default_factory=dict)
    _ports: itertools.count[int] = field(default_factory=lambda: itertools.count(20000))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- test controls -----------------------------------------------------------------

    def fail(
        self, name: str, error: Exception, *, op: str = "apply", times: int | None = 1
    ) -> None:
        """Make ``op`` (apply/observe/destroy) on the resource called ``name`` raise ``error``."""
        with self._lock:
            self._failures[(op, name)] = _Injected(error, times)

    def heal(self, name: str, *, op: str = "apply") -> None:
        """Stop injecting failures into ``op`` on ``name``."""
        with self._lock:
            self._failures.pop((op, name), None)

    def lose(self, name: str) -> WorldEntry:
        """Drift: the resource called ``name`` vanishes behind the platform's back."""
        with self._lock:
            entry = self.by_name(name)
            del self.world[entry.id]
            return entry

    def tamper(self, name: str, **spec_changes: Any) -> None:
        """Drift: someone edits the live resource called ``name`` by hand."""
        with self._lock:
            entry = self.by_name(name)
            entry.spec = {**entry.spec, **spec_changes}
            entry.applied_digest = digest(entry.spec)

    def by_name(self, name: str) -> WorldEntry:
        """Return the live resource called ``name`` (KeyError when it does not exist)."""
        with self._lock:
            for entry in self.world.values():
                if entry.name == name:
                    return entry
        raise KeyError(f"nothing called {name!r} exists in the fake world")

    def names(self) -> set[str]:
        """Return the names of every live resource."""
        with self._lock:
            return {e.name for e in self.world.values()}

    def ops(self, op: str, name: str | None = None) -> list[str]:
        """Return the resource names ``op`` was called with, in call order."""
        with self._lock:
            return [n for o, n in self.calls if o == op and (name is None or n == name)]

    def _record(self, op: str, name: str) -> None:
        with self._lock:
            self.calls.append((op, name))
            injected = self._failures.get((op, name))
            if injected is None:
                return
            if injected.times is not None:
                injected.times -= 1
                if injected.times <= 0:
                    del self._failures[(op, name)]
            raise injected.error

    # -- the provider contract ----------------------------------------------------------

    def resource_types(self) -> Mapping[str, Mapping[str, Any]]:
        """Return a permissive JSON Schema per resource type."""
        return {t: {"type": "object"} for t in FAKE_TYPES}

    def plan(self, desired: Resource | None, observed: Observation | None) -> ProviderChange:
        """Compare desired with observed; no side effects."""
        if desired is None:
            if observed is not None and observed.exists:
                return ProviderChange(ChangeAction.DELETE, ("no longer desired",))
            return ProviderChange(ChangeAction.NOOP)
        if observed is None or not observed.exists:
            return ProviderChange(ChangeAction.CREATE, ("does not exist",))
        if desired.type == "postgres" and (
            observed.state.get("database") != desired.spec.get("database")
        ):
            return ProviderChange(ChangeAction.REPLACE, ("database name changed",))
        if digest(dict(desired.spec)) != observed.applied_digest:
            return ProviderChange(ChangeAction.UPDATE, ("spec changed",))
        return ProviderChange(ChangeAction.NOOP)

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Make the resource exist as specified (adopting what exists)."""
        self._record("apply", resource.name)
        if resource.type not in FAKE_TYPES:
            raise PermanentError(f"the fake provider does not realise {resource.type!r}")
        spec = copy.deepcopy(dict(resource.spec))
        if "${" in repr(spec):
            raise PermanentError(f"{resource.name}: the spec still holds placeholders")
        with self._lock:
            entry = self.world.get(resource.id)
            outputs = self._outputs(resource, entry)
            self.world[resource.id] = WorldEntry(
                id=resource.id,
                type=resource.type,
                name=resource.name,
                spec=spec,
                applied_digest=digest(spec),
                outputs=outputs,
                secret_outputs=_SECRETS & outputs.keys(),
            )
        return self._observation(self.world[resource.id])

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report the world as it is."""
        self._record("observe", resource.name)
        with self._lock:
            entry = self.world.get(resource.id)
            if entry is None:
                return Observation(exists=False)
            return self._observation(entry)

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Remove the resource; succeed if it is already gone."""
        self._record("destroy", resource.name)
        with self._lock:
            self.world.pop(resource.id, None)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return nothing consumed: the fake world is free."""
        return Usage()

    # -- helpers ------------------------------------------------------------------------

    def _outputs(self, resource: Resource, entry: WorldEntry | None) -> dict[str, Any]:
        if entry is not None and entry.type == resource.type:
            return dict(entry.outputs)  # adopt: keep ports and passwords stable
        if resource.type == "service":
            port = next(self._ports)
            url = f"http://127.0.0.1:{port}"
            names = [p["name"] for p in resource.spec.get("ports") or []] or ["default"]
            return {
                "host": "127.0.0.1",
                "port": port,
                "url": url,
                "urls": dict.fromkeys(names, url),
            }
        if resource.type == "postgres":
            name = resource.name.replace("-", "_")
            password = secrets.token_hex(12)
            return {
                "host": "127.0.0.1",
                "port": 5432,
                "name": name,
                "username": name,
                "password": password,
                "uri": f"postgresql://{name}:{password}@127.0.0.1:5432/{name}",
            }
        if resource.type == "volume":
            path = f"/fake/volumes/{resource.id}"
            return {"path": path, "source": path}
        if resource.type == "route":
            host, path = resource.spec.get("host", ""), resource.spec.get("path", "/")
            return {"host": host, "path": path, "url": f"http://{host}{path}"}
        return {"last_exit_code": 0}

    @staticmethod
    def _observation(entry: WorldEntry) -> Observation:
        state: dict[str, Any] = {"fake_id": entry.id}
        if entry.type == "postgres":
            state["database"] = entry.spec.get("database")
        return Observation(
            exists=True,
            phase=_PHASES[entry.type],
            healthy=entry.healthy,
            outputs=dict(entry.outputs),
            secret_outputs=entry.secret_outputs,
            state=state,
            applied_digest=entry.applied_digest,
        )


def registry_with_fake(fake: FakeProvider | None = None) -> tuple[ProviderRegistry, FakeProvider]:
    """Return a provider registry holding only a fake provider (new unless given)."""
    provider = fake or FakeProvider()
    registry = ProviderRegistry()
    registry.register(provider)
    return registry, provider
