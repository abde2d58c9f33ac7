"""Regressions found in review: approvals, authorization at apply, shared claims, bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from plinth.capabilities.identity import service as identity
from plinth.core.errors import Forbidden, InvalidInput, NotFound, PlinthError, SpecError
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World
from tests.orchestration.specs import application, converge, resource, workload


def _plan(world: World, user: str, docs: str, env: str = "dev") -> dict[str, object]:
    request = PlanRequest(environment=env, project="checkout", documents=docs)
    return world.platform.plan(world.actor(user), request)


def test_someone_elses_denial_does_not_block_the_approval(world: World) -> None:
    plan = _plan(world, "ada", application("big", memory="4Gi"))
    digest = str(plan["digest"])
    assert plan["outcome"] == "needs_approval"
    with pytest.raises(PlinthError):  # lee is a viewer: denied, and the denial is audited
        world.platform.apply(world.actor("lee"), digest)
    assert world.platform.get_plan(digest)["status"] == "needs_approval"
    world.platform.review(world.actor("pat"), digest, approve=True, reason="load test")
    assert world.platform.apply(world.actor("ada"), digest)["status"] == "applied"


def test_nobody_approves_their_own_plan(world: World) -> None:
    plan = _plan(world, "pat", application("big", memory="4Gi"))
    with pytest.raises(Forbidden, match="own plan"):
        world.platform.review(world.actor("pat"), str(plan["digest"]), approve=True, reason="")


def test_apply_checks_the_team_that_owns_the_project_now(world: World) -> None:
    plan = _plan(world, "ada", workload("web"))
    with world.platform.db.transaction() as session:
        identity.upsert_project(
            session,
            name="checkout",
            team="ml-research",
            description="moved",
            ids=world.platform.ids,
            clock=world.clock,
        )
    with pytest.raises(PlinthError, match="team 'ml-research'"):
        world.platform.apply(world.actor("ada"), str(plan["digest"]))


def test_a_workload_that_stops_using_a_shared_resource_releases_its_claim(world: World) -> None:
    both = workload("a", shared_db="main") + "---\n" + workload("b", shared_db="main")
    world.platform.apply(world.actor("ada"), str(_plan(world, "ada", both)["digest"]))
    assert resource(world.platform, "postgres-main").refs == ["a", "b"]
    again = workload("a", db=None) + "---\n" + workload("b", shared_db="main")
    world.platform.apply(world.actor("ada"), str(_plan(world, "ada", again)["digest"]))
    assert resource(world.platform, "postgres-main").refs == ["b"]
    delete = PlanRequest(environment="dev", delete_kind="Workload", delete_name="b")
    world.platform.apply(
        world.actor("ada"), str(world.platform.plan(world.actor("ada"), delete)["digest"])
    )
    assert resource(world.platform, "postgres-main").deleting
    converge(world.platform)
    assert "postgres-main" not in world.fake.names()


def test_a_missing_chain_head_is_detected_and_stops_appends(world: World) -> None:
    with world.platform.db.transaction() as session:
        session.execute(text("DELETE FROM audit_head"))
    assert world.platform.audit_verify()["ok"] is False
    with pytest.raises(PlinthError, match="head row is missing"):
        _plan(world, "ada", workload("web"))


@pytest.mark.parametrize(
    ("request_", "error", "words"),
    [
        (
            PlanRequest(environment="dev", delete_kind="Template", delete_name="x"),
            InvalidInput,
            "not supported",
        ),
        (
            PlanRequest(
                environment="dev",
                project="checkout",
                documents="apiVersion: plinth.dev/v1\nkind: Application\nmetadata: {name: x}\n"
                "spec: {template: nope}\n",
            ),
            SpecError,
            "no template named 'nope'",
        ),
        (
            PlanRequest(
                environment="dev",
                documents="apiVersion: plinth.dev/v1\nkind: Project\nmetadata: {name: p}\n"
                "spec: {team: nobody}\n",
            ),
            SpecError,
            "no team named 'nobody'",
        ),
    ],
    ids=["delete-unsupported-kind", "unknown-template", "project-of-unknown-team"],
)
def test_bad_requests_get_clear_errors(
    world: World, request_: PlanRequest, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        world.platform.plan(world.actor("pat"), request_)


def test_a_team_and_its_project_in_one_file_apply_in_either_order(world: World) -> None:
    docs = (
        "apiVersion: plinth.dev/v1\nkind: Project\nmetadata: {name: search}\n"
        "spec: {team: seekers}\n"
        "---\napiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: seekers}\nspec: {}\n"
    )
    result = world.platform.apply(world.actor("pat"), str(_plan(world, "pat", docs)["digest"]))
    assert result["status"] == "applied"
    names = [
        p["name"] for p in world.platform.organisation("projects", limit=50, page_token=None).items
    ]
    assert "search" in names


def test_unknown_kind_schema_is_not_found(world: World) -> None:
    with pytest.raises(NotFound, match="no kind named"):
        world.platform.schema("Nope")


def test_committed_spend_follows_applies_and_deletes(world: World) -> None:
    from plinth.capabilities.finops import committed

    def now() -> tuple[object, object]:
        with world.platform.db.transaction() as session:
            kept = committed.committed_hourly(session, environment="dev")
            committed.rebuild(session)  # recomputed from the resources themselves
            return kept, committed.committed_hourly(session, environment="dev")

    world.platform.apply(world.actor("ada"), str(_plan(world, "ada", workload("web"))["digest"]))
    kept, rebuilt = now()
    assert kept == rebuilt  # (the fake provider is priced at zero: see the cost gate tests)
    delete = PlanRequest(
        environment="dev", project="checkout", delete_kind="Workload", delete_name="web"
    )
    world.platform.apply(
        world.actor("ada"), str(world.platform.plan(world.actor("ada"), delete)["digest"])
    )
    kept, rebuilt = now()
    assert kept == rebuilt == 0
