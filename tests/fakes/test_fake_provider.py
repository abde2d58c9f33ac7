"""The fake provider keeps the provider contract, so tests that use it mean something."""

from __future__ import annotations

import pytest

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.base import ChangeAction, Provider, Resource
from tests.fakes.provider import FakeProvider, registry_with_fake


def res(name: str = "db", type_: str = "postgres", **spec: object) -> Resource:
    """Return a resource of the fake world."""
    return Resource(
        id=f"res_{name}", type=type_, name=name, environment="dev", project="p", spec=spec
    )


def test_it_is_a_provider_for_every_type() -> None:
    registry, fake = registry_with_fake()
    assert isinstance(fake, Provider)
    assert set(registry.types()) == {"service", "postgres", "volume", "route", "job"}


def test_plan_only_compares() -> None:
    fake = FakeProvider()
    assert fake.plan(res(), None).action == ChangeAction.CREATE
    assert fake.plan(None, None).action == ChangeAction.NOOP
    assert fake.world == {} and fake.calls == []
    observed = fake.apply(res(), {})
    assert fake.plan(res(), observed).action == ChangeAction.NOOP
    assert fake.plan(res(database="x"), observed).action == ChangeAction.REPLACE
    service = fake.apply(res("web", "service", image="a"), {})
    assert fake.plan(res("web", "service", image="b"), service).action == ChangeAction.UPDATE
    assert fake.plan(None, service).action == ChangeAction.DELETE


def test_apply_is_idempotent_and_keeps_secrets_secret() -> None:
    fake = FakeProvider()
    first = fake.apply(res(), {})
    second = fake.apply(res(), first.state)
    assert first.outputs == second.outputs  # adopted, not created twice
    assert len(fake.world) == 1
    assert first.secret_outputs == {"password", "uri"}
    assert first.outputs["password"] not in str(first.state)
    assert fake.observe(res(), {}).exists


def test_apply_refuses_unresolved_placeholders() -> None:
    with pytest.raises(PermanentError, match="placeholders"):
        FakeProvider().apply(res("web", "service", env={"URL": "${resources.db.uri}"}), {})


def test_destroy_succeeds_when_nothing_is_there() -> None:
    fake = FakeProvider()
    fake.apply(res(), {})
    fake.destroy(res(), {})
    fake.destroy(res(), {})
    assert not fake.observe(res(), {}).exists


def test_injected_failures_and_drift() -> None:
    fake = FakeProvider()
    fake.fail("db", TemporaryError("later"), times=2)
    for _ in range(2):
        with pytest.raises(TemporaryError):
            fake.apply(res(), {})
    fake.apply(res(), {})
    fake.fail("db", PermanentError("never"), times=None)
    for _ in range(3):
        with pytest.raises(PermanentError):
            fake.apply(res(), {})
    fake.heal("db")
    fake.apply(res(), {})
    fake.lose("db")
    assert not fake.observe(res(), {}).exists
    assert fake.ops("apply", "db") == ["db"] * 7
