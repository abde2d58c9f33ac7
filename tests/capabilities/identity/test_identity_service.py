"""Identity: tokens, actors and grants, and the seeded demo organisation."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text

from plinth.capabilities.audit import service as audit
from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.models import ApiToken, EnvironmentRow, TeamRow
from plinth.capabilities.identity.schemas import Actor, Grant, Role
from plinth.capabilities.inventory import service as inventory
from plinth.core.clock import FrozenClock
from plinth.core.errors import InvalidInput, NotFound, Unauthenticated
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database
from plinth.orchestration.seed import seed_demo, seed_templates


@pytest.fixture
def tokens(database: Database, clock: FrozenClock, ids: SequentialIds) -> dict[str, str]:
    """The demo organisation, seeded; each user's token."""
    with database.transaction() as session:
        return seed_demo(session, ids=ids, clock=clock)


def authenticate(database: Database, token: str | None) -> Actor:
    """Authenticate in a fresh transaction."""
    with database.transaction() as session:
        return identity.authenticate(session, token)


def test_valid_token_gives_the_actor_with_grants(
    database: Database, tokens: dict[str, str]
) -> None:
    rita = authenticate(database, tokens["rita"])
    assert (rita.name, rita.kind, rita.persona) == ("rita", "human", "app-developer")
    assert set(rita.grants) == {
        Grant(Role.RELEASE_MANAGER, "payments"),
        Grant(Role.DEVELOPER, "payments"),
    }
    assert rita.teams == ["payments"]
    assert rita.has_role(Role.RELEASE_MANAGER, team="payments")
    assert not rita.has_role(Role.RELEASE_MANAGER, team="ml-research")
    assert not rita.has_role(Role.PLATFORM_ENGINEER, team="payments")
    described = rita.as_dict()
    assert {"role": "release-manager", "team": "payments"} in described["roles"]
    assert "token" not in str(described).lower()


def test_org_wide_grant_covers_every_team(database: Database, tokens: dict[str, str]) -> None:
    pat = authenticate(database, tokens["pat"])
    assert pat.grants == (Grant(Role.PLATFORM_ENGINEER, None),)
    assert pat.teams == []
    assert pat.has_role(Role.PLATFORM_ENGINEER, team="payments")
    assert pat.has_role(Role.PLATFORM_ENGINEER, team="anything")
    assert pat.has_role(Role.PLATFORM_ENGINEER)


@pytest.mark.parametrize("token", [None, "", "plt_unknown", "Bearer plt_x"])
def test_missing_or_unknown_token_is_unauthenticated(
    database: Database, tokens: dict[str, str], token: str | None
) -> None:
    with pytest.raises(Unauthenticated):
        authenticate(database, token)


def test_revoked_token_is_unauthenticated(
    database: Database, tokens: dict[str, str], clock: FrozenClock
) -> None:
    with database.transaction() as session:
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_hash == identity.hash_token(tokens["ada"]))
        ).one()
        row.revoked_at = clock.now()
    with pytest.raises(Unauthenticated, match="unknown or revoked"):
        authenticate(database, tokens["ada"])
    assert authenticate(database, tokens["pat"]).name == "pat"


def test_tokens_are_stored_only_as_sha256(database: Database, tokens: dict[str, str]) -> None:
    with database.engine.connect() as conn:
        rows = [tuple(map(str, r)) for r in conn.execute(text("SELECT * FROM api_tokens"))]
        users = [tuple(map(str, r)) for r in conn.execute(text("SELECT * FROM users"))]
    hashes = {hashlib.sha256(t.encode()).hexdigest() for t in tokens.values()}
    with database.transaction() as session:
        assert set(session.scalars(select(ApiToken.token_hash))) == hashes
    dump = str(rows) + str(users)
    for token in tokens.values():
        assert token not in dump
    assert len(set(tokens.values())) == len(tokens)


def test_issue_token_for_a_new_user(
    database: Database, tokens: dict[str, str], clock: FrozenClock, ids: SequentialIds
) -> None:
    with database.transaction() as session:
        bot = identity.create_user(
            session,
            name="deploy-bot",
            persona="agent",
            kind="agent",
            grants=[Grant(Role.DEVELOPER, "payments"), Grant(Role.VIEWER)],
            ids=ids,
            clock=clock,
        )
        token = identity.issue_token(session, user_id=bot.id, ids=ids, clock=clock)
    actor = authenticate(database, token)
    assert (actor.name, actor.kind) == ("deploy-bot", "agent")
    assert set(actor.grants) == {Grant("developer", "payments"), Grant("viewer", None)}


def test_create_user_refuses_duplicates_and_unknown_teams(
    database: Database, tokens: dict[str, str], clock: FrozenClock, ids: SequentialIds
) -> None:
    with pytest.raises(InvalidInput, match="already exists"), database.transaction() as session:
        identity.create_user(session, name="ada", persona="x", grants=[], ids=ids, clock=clock)
    with pytest.raises(NotFound, match="no team named 'ghosts'"), database.transaction() as s:
        identity.create_user(
            s, name="eve", persona="x", grants=[Grant("developer", "ghosts")], ids=ids, clock=clock
        )
    with database.transaction() as session, pytest.raises(NotFound):
        identity.actor_by_name(session, "eve")  # rolled back with its transaction


def test_seed_creates_the_demo_organisation(database: Database, tokens: dict[str, str]) -> None:
    assert sorted(tokens) == ["ada", "dana", "janitor", "lee", "pat", "rita", "sam"]
    with database.transaction() as session:
        assert identity.is_seeded(session)
        teams = [t.name for t in identity.list_teams(session, limit=50, page_token=None).items]
        projects = {
            p.name: identity.project_team(session, p)
            for p in identity.list_projects(session, limit=50, page_token=None).items
        }
        envs = {
            e.name: (e.tier, e.protected)
            for e in identity.list_environments(session, limit=50, page_token=None).items
        }
        templates = {
            (t.name, t.label) for t in inventory.list_documents(session, kind="Template").items
        }
        actions = list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))
        assert audit.verify(session).ok
        ada = identity.actor_by_name(session, "ada")
        assert identity.default_project(session, ada).name == "checkout"
    assert teams == ["ml-research", "payments", "platform"]
    assert projects == {
        "checkout": "payments",
        "recommender": "ml-research",
        "platform-tools": "platform",
    }
    assert envs == {"dev": ("dev", False), "staging": ("staging", False), "prod": ("prod", True)}
    assert {("web-service", "1.0.0"), ("web-service", "1.1.0")} <= templates
    assert actions == ["templates.published", "agent.created", "organisation.seeded"]


def test_seeding_templates_again_publishes_nothing(
    database: Database, tokens: dict[str, str], clock: FrozenClock, ids: SequentialIds
) -> None:
    with database.transaction() as session:
        assert seed_templates(session, ids=ids, clock=clock) == []
        assert len(list(session.scalars(select(AuditRecord)))) == 3


def test_unknown_environment_lists_the_known_ones(
    database: Database, tokens: dict[str, str]
) -> None:
    with database.transaction() as session, pytest.raises(NotFound) as raised:
        identity.get_environment(session, "moon")
    assert raised.value.detail == "no environment named 'moon' (known: dev, prod, staging)"


def test_upserts_update_in_place(
    database: Database, tokens: dict[str, str], clock: FrozenClock, ids: SequentialIds
) -> None:
    with database.transaction() as session:
        identity.upsert_team(session, name="payments", description="new", ids=ids, clock=clock)
        identity.upsert_environment(
            session,
            name="staging",
            tier="staging",
            protected=True,
            region="eu",
            description="",
            ids=ids,
            clock=clock,
        )
        identity.upsert_project(
            session, name="checkout", team="platform", description="", ids=ids, clock=clock
        )
    with database.transaction() as session:
        teams = session.scalars(select(TeamRow).where(TeamRow.name == "payments")).all()
        assert [t.description for t in teams] == ["new"]
        staging = session.scalars(
            select(EnvironmentRow).where(EnvironmentRow.name == "staging")
        ).one()
        assert (staging.protected, staging.region) == (True, "eu")
        project = identity.get_project(session, "checkout")
        assert identity.project_team(session, project) == "platform"
        with pytest.raises(NotFound, match="names team 'ghosts'"):
            identity.upsert_project(
                session, name="x", team="ghosts", description="", ids=ids, clock=clock
            )


def test_user_without_teams_has_no_default_project(
    database: Database, tokens: dict[str, str]
) -> None:
    with database.transaction() as session:
        pat = identity.actor_by_name(session, "pat")
        with pytest.raises(InvalidInput, match="--project"):
            identity.default_project(session, pat)
