"""Bad intent is refused with precise issues, and refusing it changes nothing."""

from __future__ import annotations

import pytest
import yaml

from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.core.errors import InvalidInput, NotFound, SpecError
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.records import PlanRecord
from tests.orchestration.conftest import World
from tests.orchestration.specs import count, workload

CYCLE = """
apiVersion: score.dev/v1b1
metadata: {name: loop}
service:
  ports: {web: {port: 8080}}
containers:
  main:
    image: registry.local/app:1
    variables: {PUBLIC_URL: "${resources.route.url}"}
resources:
  route:
    type: route
    params: {host: loop.localhost, path: /, port: 8080}
"""

UNKNOWN_KIND = """
apiVersion: plinth.dev/v1
kind: Gizmo
metadata: {name: g}
"""

BAD_DOCUMENTS = {
    "invalid YAML": ("containers: [unclosed", "$", "invalid YAML"),
    "unknown kind": (UNKNOWN_KIND, "$.kind", "unknown kind 'Gizmo'"),
    "cycle": (CYCLE, "$", "dependency cycle: loop -> loop-route -> loop"),
    "unresolvable placeholder": (
        workload("web", db=None, variables={"DATABASE_URL": "${resources.nope.uri}"}),
        "$.containers.main.variables.DATABASE_URL",
        "nope",
    ),
    "workload with a second document broken": (
        workload("web") + "---\n" + UNKNOWN_KIND,
        "$.kind",
        "Gizmo",
    ),
}


def snapshot(world: World) -> tuple[int, int, int, int]:
    """Return how many plans, audit records, documents and resources exist."""
    return tuple(  # type: ignore[return-value]
        count(world.platform, m) for m in (PlanRecord, AuditRecord, DocumentRecord, ResourceRecord)
    )


def test_bad_documents_raise_spec_error_and_change_nothing(world: World) -> None:
    before = snapshot(world)
    for case, (text, path, message) in sorted(BAD_DOCUMENTS.items()):
        with pytest.raises(SpecError) as raised:
            world.platform.plan(
                world.actor("ada"), PlanRequest(environment="dev", documents=text, file="app.yaml")
            )
        found = [i for i in raised.value.issues if message in i.message]
        assert found, f"{case}: no issue says {message!r}: {raised.value.issues}"
        assert found[0].path == path, case
        assert (found[0].file or "").startswith("app.yaml"), case
        assert raised.value.extra["issues"], case
        assert snapshot(world) == before, case
    assert world.fake.calls == []


def test_empty_request_and_unknown_places_are_refused(world: World) -> None:
    ada = world.actor("ada")
    before = snapshot(world)
    with pytest.raises(InvalidInput, match="nothing to plan"):
        world.platform.plan(ada, PlanRequest(environment="dev", documents="   "))
    with pytest.raises(NotFound, match="known: dev, prod, staging"):
        world.platform.plan(ada, PlanRequest(environment="moon", documents=workload("web")))
    with pytest.raises(NotFound, match="no project"):
        world.platform.plan(
            ada, PlanRequest(environment="dev", project="nope", documents=workload("web"))
        )
    with pytest.raises(NotFound, match="no Workload named 'ghost'"):
        world.platform.plan(
            ada, PlanRequest(environment="dev", delete_kind="Workload", delete_name="ghost")
        )
    with pytest.raises(InvalidInput, match="deletable kinds"):
        world.platform.plan(
            ada, PlanRequest(environment="dev", delete_kind="Team", delete_name="payments")
        )
    assert snapshot(world) == before


def test_user_without_a_team_must_name_a_project(world: World) -> None:
    with pytest.raises(InvalidInput, match="--project"):
        world.platform.plan(
            world.actor("pat"), PlanRequest(environment="dev", documents=workload("web"))
        )


def test_published_template_versions_are_immutable(world: World) -> None:
    pat = world.actor("pat")
    template = world.platform.template("web-service", "1.0.0")["raw"]
    changed = {**template, "spec": {**template["spec"], "description": "rewritten history"}}
    before = snapshot(world)
    with pytest.raises(SpecError, match="immutable") as raised:
        world.platform.plan(
            pat,
            PlanRequest(
                environment="dev", project="platform-tools", documents=yaml.safe_dump(changed)
            ),
        )
    assert raised.value.issues[0].path == "$.spec.version"
    assert snapshot(world) == before
