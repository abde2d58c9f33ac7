"""The provider contract kit: one pytest class that every provider must pass.

It checks the rules of ``plinth.infrastructure.providers.base`` against a real
provider doing real work: ``plan`` has no side effects; ``apply`` is idempotent
and adopts what an interrupted earlier call made; ``observe`` reports the world,
not the store; ``destroy`` leaves nothing and may be repeated; errors are typed
(``PermanentError`` / ``TemporaryError``, nothing else); every resource type
declares a valid JSON Schema (Draft 2020-12); secret values never reach
``Observation.state`` or ``Observation.message``.

How to use it
-------------

1. Write a test module (say ``tests/test_contract.py``) with a class whose name
   starts with ``Test`` and that subclasses ``ProviderContract``.
2. Give it a ``provider`` fixture (in the class, the module or a ``conftest.py``)
   returning the provider under test, built with the ``ProviderContext`` your
   tests need (a ``tmp_path`` data directory, the URL of a test API server).
3. Set the class attribute ``samples``: one ``Sample`` per resource type to cover,
   each a resolved ``Resource`` the provider can really realise in the test
   environment, optionally with a spec it must refuse (``invalid_spec``) and
   strings of the spec that are secret (``secrets``). Every test that takes a
   sample runs once per sample; the sample's resource is destroyed after each.
4. Optionally override these fixtures (each returns a callable, or None):

   - ``world`` -> ``WorldCheck``: ``(resource) -> int | None``, how many real
     things exist for the resource, found *without* the provider's ``observe``
     (a process table, a directory, a ``GET`` to an API server); None when the
     type has no independent check. Without it, only ``observe`` is trusted.
   - ``remove_behind_back`` -> ``RemoveHook``: ``(resource) -> bool``, deletes
     the real thing without the provider (kill the process, ``DELETE`` the
     object over HTTP); False when it cannot for that type.
   - ``temporary_failure`` -> ``TemporaryFailureHook``: ``(resource) ->
     context manager or None``; inside the context ``apply`` of the resource must
     fail with ``TemporaryError`` (an API server answering 503, a database that
     is down), and after it ``apply`` must succeed.

A provider whose world is reached over HTTP (Kubernetes, a cloud API) looks so::

    import httpx
    import pytest

    from plinth.infrastructure.providers.base import ProviderContext, Resource
    from plinth.testing import ProviderContract, Sample, WorldCheck

    WEB = Resource(id="res_web", type="service", name="web", environment="dev",
                   project="shop", spec={"containers": {"web": {"image": "nginx"}}})

    class TestKubeContract(ProviderContract):
        samples = [Sample(WEB, invalid_spec={"containers": {}})]

        @pytest.fixture
        def provider(self, api_server, tmp_path):
            context = ProviderContext(data_dir=tmp_path, secret_key=b"k" * 32,
                                      settings={"server": api_server.url})
            return KubeProvider(context)

        @pytest.fixture
        def world(self, api_server) -> WorldCheck:
            def count(resource: Resource) -> int:
                url = f"{api_server.url}/apis/apps/v1/namespaces/dev/deployments"
                names = [d["metadata"]["name"] for d in httpx.get(url).json()["items"]]
                return names.count(resource.name)
            return count

Run it like any other test: ``pytest tests/test_contract.py``. Each failure
names the rule that was broken. Checks that wait for the world (a deletion that
takes a moment) poll up to ``settle_timeout_s`` seconds (a class attribute).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar

import pytest
from jsonschema import Draft202012Validator

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.base import (
    ChangeAction,
    Observation,
    Provider,
    Resource,
    Usage,
)

__all__ = [
    "ProviderContract",
    "RemoveHook",
    "Sample",
    "TemporaryFailureHook",
    "WorldCheck",
]

WorldCheck = Callable[[Resource], int | None]
"""How many real things exist for a resource (None: no independent check for its type)."""

RemoveHook = Callable[[Resource], bool]
"""Delete a resource's real thing behind the provider's back; False when it cannot."""

TemporaryFailureHook = Callable[[Resource], AbstractContextManager[object] | None]
"""A context inside which ``apply`` of the resource fails temporarily (None: not for it)."""

T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """One resource the kit realises, with what the provider must refuse and must not leak."""

    resource: Resource
    invalid_spec: Mapping[str, Any] | None = None
    secrets: tuple[str, ...] = ()
    label: str = ""

    @property
    def id(self) -> str:
        """Return the test id: the resource type, plus the label when there is one."""
        return f"{self.resource.type}-{self.label}" if self.label else self.resource.type


def _call(what: str, call: Callable[[], T]) -> T:
    """Run one provider call; fail the test when an untyped exception escapes it."""
    try:
        return call()
    except (TemporaryError, PermanentError):
        raise
    except Exception as exc:  # the rule under test: nothing else may escape
        pytest.fail(
            f"{what} raised {type(exc).__name__}: {exc} "
            "(a provider may only raise TemporaryError or PermanentError)"
        )


def _secret_strings(observation: Observation, sample: Sample) -> list[str]:
    """Return every secret value an observation or a sample holds, as strings."""
    found = [s for s in sample.secrets if s]

    def collect(value: Any) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                collect(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                collect(item)
        elif value is not None and not isinstance(value, bool) and len(str(value)) >= 4:
            found.append(str(value))  # shorter values match by chance, not by leaking

    for name in observation.secret_outputs:
        collect(observation.outputs.get(name))
    return found


class ProviderContract:
    """Subclass this (as ``Test...``) with a ``provider`` fixture and ``samples`` to run the kit."""

    samples: ClassVar[Sequence[Sample]] = ()
    settle_timeout_s: ClassVar[float] = 15.0

    # -- hooks a subclass may override -------------------------------------------------

    @pytest.fixture
    def world(self) -> WorldCheck | None:
        """Count real things without the provider; None trusts ``observe`` alone."""
        return None

    @pytest.fixture
    def remove_behind_back(self) -> RemoveHook | None:
        """Delete a real thing without the provider; None skips the drift check."""
        return None

    @pytest.fixture
    def temporary_failure(self) -> TemporaryFailureHook | None:
        """Make ``apply`` fail temporarily inside a context; None skips that check."""
        return None

    # -- machinery ---------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every test that takes ``sample`` once per sample of the class."""
        if "sample" not in metafunc.fixturenames:
            return
        if not self.samples:
            pytest.fail(f"{type(self).__name__}.samples is empty: give at least one Sample")
        metafunc.parametrize("sample", list(self.samples), ids=[s.id for s in self.samples])

    @pytest.fixture
    def resource(self, provider: Provider, sample: Sample) -> Iterator[Resource]:
        """The sample's resource; destroyed (with empty state) after the test."""
        yield sample.resource
        _call("destroy", lambda: provider.destroy(sample.resource, {}))

    def eventually(self, check: Callable[[], bool], what: str) -> None:
        """Poll ``check`` until it holds; fail naming ``what`` when it never does."""
        deadline = time.monotonic() + self.settle_timeout_s
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"never became true: {what}")
            time.sleep(0.05)

    @staticmethod
    def count(world: WorldCheck | None, resource: Resource) -> int | None:
        """Return how many real things exist for ``resource`` (None: no independent check)."""
        if world is None:
            return None
        found = world(resource)
        return None if found is None else int(found)

    @staticmethod
    def checked(observation: Observation, sample: Sample, what: str) -> Observation:
        """Return ``observation`` after checking that it is one and leaks no secret value."""
        assert isinstance(observation, Observation), f"{what} returned {observation!r}"
        state = json.dumps(observation.state, default=str, sort_keys=True)
        for secret in _secret_strings(observation, sample):
            assert secret not in state, f"{what}: a secret value appears in Observation.state"
            assert secret not in observation.message, f"{what}: a secret value is in the message"
        return observation

    def observe(self, provider: Provider, sample: Sample, state: Mapping[str, Any]) -> Observation:
        """Return the provider's checked observation of the sample."""
        observed = _call("observe", lambda: provider.observe(sample.resource, state))
        return self.checked(observed, sample, "observe")

    def apply(self, provider: Provider, sample: Sample, state: Mapping[str, Any]) -> Observation:
        """Apply the sample and return the checked observation."""
        applied = _call("apply", lambda: provider.apply(sample.resource, state))
        return self.checked(applied, sample, "apply")

    def assert_absent(
        self, provider: Provider, sample: Sample, world: WorldCheck | None, what: str
    ) -> None:
        """Check that nothing exists for the sample, by the world check and by ``observe``."""
        if world is not None:
            self.eventually(lambda: not self.count(world, sample.resource), f"{what}: world empty")
        self.eventually(
            lambda: self.observe(provider, sample, {}).phase == "absent",
            f"{what}: observe reports phase 'absent'",
        )
        gone = self.observe(provider, sample, {})
        assert not gone.exists, f"{what}: observe says the resource exists"
        assert provider.plan(None, gone).action is ChangeAction.NOOP, f"{what}: plan wants work"

    def assert_one(self, world: WorldCheck | None, resource: Resource, what: str) -> None:
        """Check that exactly one real thing exists (when there is a world check)."""
        found = self.count(world, resource)
        assert found in (None, 1), f"{what}: {found} real things exist, not one"

    # -- the contract ------------------------------------------------------------------

    def test_resource_types_are_json_schemas(self, provider: Provider) -> None:
        """Every declared type has a valid Draft 2020-12 JSON Schema."""
        types = _call("resource_types", provider.resource_types)
        assert types, "resource_types() declares no resource type"
        for name, schema in types.items():
            assert isinstance(name, str) and name, f"resource type name {name!r} is not a name"
            Draft202012Validator.check_schema(dict(schema))

    def test_sample_matches_its_schema(self, provider: Provider, sample: Sample) -> None:
        """The sample's type is declared and its spec validates against the type's schema."""
        types = provider.resource_types()
        assert sample.resource.type in types, f"{sample.resource.type!r} is not declared"
        validator = Draft202012Validator(dict(types[sample.resource.type]))
        problems = [e.message for e in validator.iter_errors(dict(sample.resource.spec))]
        assert not problems, f"the sample fails its own type's schema: {problems[0]}"

    def test_plan_has_no_side_effects(
        self, provider: Provider, sample: Sample, resource: Resource, world: WorldCheck | None
    ) -> None:
        """Plan only compares: nothing exists after planning a creation."""
        assert provider.plan(None, None).action is ChangeAction.NOOP
        assert provider.plan(resource, None).action is ChangeAction.CREATE
        before = self.observe(provider, sample, {})
        assert not before.exists, "the sample exists before the test: clean up the test world"
        assert provider.plan(resource, before).action is ChangeAction.CREATE
        assert provider.plan(None, before).action is ChangeAction.NOOP
        self.assert_absent(provider, sample, world, "after plan")

    def test_apply_is_idempotent(
        self, provider: Provider, sample: Sample, resource: Resource, world: WorldCheck | None
    ) -> None:
        """Applying twice makes one real thing with the same outputs; then plan is a no-op."""
        first = self.apply(provider, sample, {})
        assert first.exists, f"apply did not make the resource exist: {first.message}"
        second = self.apply(provider, sample, first.state)
        assert second.outputs == first.outputs, "a second apply changed the outputs"
        self.assert_one(world, resource, "after applying twice")
        now = self.observe(provider, sample, second.state)
        assert now.exists, "observe does not see what apply made"
        change = provider.plan(resource, now)
        assert change.action is ChangeAction.NOOP, f"plan after apply wants {change}"
        used = _call("usage", lambda: provider.usage(resource, second.state))
        assert isinstance(used, Usage), f"usage returned {used!r}"
        assert min(used.cpu_seconds, used.memory_bytes, used.disk_bytes, used.wall_seconds) >= 0

    def test_apply_after_a_crash_adopts(
        self, provider: Provider, sample: Sample, resource: Resource, world: WorldCheck | None
    ) -> None:
        """Apply with lost (empty) or stale state finds what exists instead of making another."""
        first = self.apply(provider, sample, {})
        stale = {"stale": True, **first.state}
        for state, what in (({}, "empty state"), (stale, "stale state")):
            again = self.apply(provider, sample, state)
            assert again.exists, f"apply with {what} did not leave the resource existing"
            assert again.outputs == first.outputs, f"apply with {what} changed the outputs"
            self.assert_one(world, resource, f"after apply with {what}")

    def test_observe_reflects_reality(
        self,
        provider: Provider,
        sample: Sample,
        resource: Resource,
        world: WorldCheck | None,
        remove_behind_back: RemoveHook | None,
    ) -> None:
        """Observe sees what exists, sees it vanish behind the provider's back, sees it gone."""
        applied = self.apply(provider, sample, {})
        assert self.observe(provider, sample, applied.state).exists
        assert self.observe(provider, sample, {}).exists, "observe needs state to see the world"
        if remove_behind_back is not None and remove_behind_back(resource):
            if world is not None:
                self.eventually(lambda: not self.count(world, resource), "world empty")

            before = (applied.exists, applied.phase, applied.healthy)

            def noticed() -> bool:
                seen = self.observe(provider, sample, applied.state)
                return (seen.exists, seen.phase, seen.healthy) != before

            self.eventually(noticed, "observe notices the removal (exists/phase/healthy change)")
            seen = self.observe(provider, sample, applied.state)
            if provider.plan(resource, seen).action is not ChangeAction.NOOP:
                repaired = self.apply(provider, sample, applied.state)
                assert repaired.exists, "apply did not repair what was removed"
                self.assert_one(world, resource, "after repair")
        _call("destroy", lambda: provider.destroy(resource, applied.state))
        self.assert_absent(provider, sample, world, "after destroy")

    def test_destroy_leaves_nothing(
        self, provider: Provider, sample: Sample, resource: Resource, world: WorldCheck | None
    ) -> None:
        """Destroy removes everything, and succeeds again and when nothing ever existed."""
        applied = self.apply(provider, sample, {})
        self.assert_one(world, resource, "after apply")
        _call("destroy", lambda: provider.destroy(resource, applied.state))
        self.assert_absent(provider, sample, world, "after destroy")
        _call("destroy again", lambda: provider.destroy(resource, applied.state))
        _call("destroy again, empty state", lambda: provider.destroy(resource, {}))
        never = replace(resource, id=f"{resource.id}-never", name=f"{resource.name}-never")
        _call("destroy of what never existed", lambda: provider.destroy(never, {}))
        self.assert_absent(provider, sample, world, "after destroying twice")

    def test_invalid_spec_is_refused(
        self, provider: Provider, sample: Sample, resource: Resource, world: WorldCheck | None
    ) -> None:
        """A spec the provider cannot realise raises PermanentError and leaves nothing."""
        if sample.invalid_spec is None:
            pytest.skip(f"the {sample.id} sample declares no invalid_spec")
        bad = replace(resource, spec=sample.invalid_spec)
        with pytest.raises(PermanentError) as refused:
            _call("apply of an invalid spec", lambda: provider.apply(bad, {}))
        for secret in sample.secrets:
            assert secret not in str(refused.value), "the error message holds a secret value"
        self.assert_absent(provider, sample, world, "after a refused apply")

    def test_unknown_type_is_refused(self, provider: Provider) -> None:
        """Apply of a type the provider does not declare raises PermanentError."""
        if not self.samples:
            pytest.fail(f"{type(self).__name__}.samples is empty: give at least one Sample")
        stranger = replace(self.samples[0].resource, type="no-such-type-of-resource")
        with pytest.raises(PermanentError):
            _call("apply of an unknown type", lambda: provider.apply(stranger, {}))

    def test_temporary_failure_is_typed(
        self,
        provider: Provider,
        sample: Sample,
        resource: Resource,
        world: WorldCheck | None,
        temporary_failure: TemporaryFailureHook | None,
    ) -> None:
        """A passing failure raises TemporaryError; the next apply then succeeds."""
        failing = None if temporary_failure is None else temporary_failure(resource)
        if failing is None:
            pytest.skip(f"no temporary_failure hook for the {sample.id} sample")
        with failing, pytest.raises(TemporaryError):
            _call("apply during a temporary failure", lambda: provider.apply(resource, {}))
        recovered = self.apply(provider, sample, {})
        assert recovered.exists, "apply did not succeed once the failure passed"
        self.assert_one(world, resource, "after recovery")

    def test_secrets_stay_out_of_state_and_messages(
        self, provider: Provider, sample: Sample, resource: Resource
    ) -> None:
        """Secret outputs are named, and no secret value is in state or message."""
        applied = self.apply(provider, sample, {})
        unknown = set(applied.secret_outputs) - set(applied.outputs)
        assert not unknown, f"secret_outputs names outputs that do not exist: {sorted(unknown)}"
        self.observe(provider, sample, applied.state)
        self.observe(provider, sample, {})
