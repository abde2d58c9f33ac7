"""Registering agents: their user, their owner team, updates and disabling."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from plinth.capabilities.agents import service as agents
from plinth.capabilities.agents.models import AgentSigningKeyRow
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.models import Membership, UserRow
from plinth.capabilities.identity.schemas import Grant
from plinth.core.clock import FrozenClock
from plinth.core.errors import Conflict, InvalidInput, NotFound
from plinth.core.ids import SequentialIds
from plinth.core.secrets import SecretBox
from plinth.infrastructure.store.db import Database


@pytest.fixture
def org(database: Database, clock: FrozenClock, ids: SequentialIds) -> Database:
    """Two teams."""
    with database.transaction() as session:
        for team in ("payments", "platform"):
            identity.upsert_team(session, name=team, description="", ids=ids, clock=clock)
    return database


def spec(team: str = "payments", **extra: Any) -> dict[str, Any]:
    """A minimal Agent spec."""
    return {"team": team, "purpose": "keeps previews fresh", **extra}


def test_register_creates_an_agent_user_in_its_team(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    with org.transaction() as session:
        row = agents.upsert_agent(
            session, name="previewer", spec=spec(), box=box, ids=ids, clock=clock
        )
        assert (row.name, row.team, row.purpose, row.disabled_at) == (
            "previewer",
            "payments",
            "keeps previews fresh",
            None,
        )
        assert row.spec == spec()
        user = session.get(UserRow, row.user_id)
        assert user is not None
        assert (user.name, user.kind, user.persona) == ("previewer", "agent", "agent")
        assert agents.is_registered_agent(session, row.user_id)
        assert len(session.scalars(select(AgentSigningKeyRow)).all()) == 1
    with org.read() as session:
        actor = identity.actor_by_name(session, "previewer")
        assert actor.grants == (Grant(role="agent", team="payments"),)
        got = agents.get_agent(session, "previewer")
        assert got is not None and agents.agent_spec(got).team == "payments"
        assert [a.name for a in agents.list_agents(session)] == ["previewer"]
        assert agents.get_agent(session, "nobody") is None


def test_update_keeps_the_user_and_moves_the_team(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    with org.transaction() as session:
        first = agents.upsert_agent(session, name="bot", spec=spec(), box=box, ids=ids, clock=clock)
        user_id, created = first.user_id, first.created_at
    clock.advance(60)
    with org.transaction() as session:
        again = agents.upsert_agent(
            session, name="bot", spec=spec("platform"), box=box, ids=ids, clock=clock
        )
        assert again.user_id == user_id
        assert again.created_at == created and again.updated_at > created
        roles = session.scalars(select(Membership).where(Membership.user_id == user_id)).all()
        assert len(roles) == 1
        assert len(session.scalars(select(AgentSigningKeyRow)).all()) == 1
    with org.read() as session:
        assert identity.actor_by_name(session, "bot").grants == (Grant("agent", "platform"),)


def test_the_owner_team_must_exist(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    missing = "names team 'ghosts', which does not exist"
    with pytest.raises(NotFound, match=missing), org.transaction() as session:
        agents.upsert_agent(session, name="bot", spec=spec("ghosts"), box=box, ids=ids, clock=clock)


def test_an_invalid_spec_is_refused_with_its_path(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    bad = spec(identity={"token_ttl_seconds": 0})
    path = r"\$\.spec\.identity\.token_ttl_seconds"
    with pytest.raises(InvalidInput, match=path), org.transaction() as session:
        agents.upsert_agent(session, name="bot", spec=bad, box=box, ids=ids, clock=clock)


def test_a_human_name_is_not_taken_over(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    with org.transaction() as session:
        human = identity.create_user(
            session, name="ada", persona="app-developer", grants=[], ids=ids, clock=clock
        )
        assert not agents.is_registered_agent(session, human.id)
    with pytest.raises(Conflict, match="not a registered agent"), org.transaction() as session:
        agents.upsert_agent(session, name="ada", spec=spec(), box=box, ids=ids, clock=clock)


def test_disable_and_unknown_agents(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    with org.transaction() as session:
        agents.upsert_agent(session, name="bot", spec=spec(), box=box, ids=ids, clock=clock)
    with org.transaction() as session:
        row = agents.disable_agent(session, "bot", clock)
        assert row.disabled_at == clock.now()
    clock.advance(5)
    with org.transaction() as session:
        again = agents.disable_agent(session, "bot", clock).disabled_at
        assert again is not None and again < clock.now()
        with pytest.raises(NotFound, match="no agent named 'ghost'"):
            agents.disable_agent(session, "ghost", clock)
        with pytest.raises(NotFound):
            agents.revoke(session, agent="ghost", jti=None, actor="pat", clock=clock)
