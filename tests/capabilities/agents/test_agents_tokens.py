"""Agent tokens: signed, audience-bound, short-lived, revocable; each refusal says why."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from plinth.capabilities.agents import service as agents
from plinth.capabilities.agents import tokens
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.core.clock import FrozenClock
from plinth.core.errors import InvalidInput, NotFound, Unauthenticated
from plinth.core.ids import SequentialIds, new_token
from plinth.core.secrets import SecretBox
from plinth.infrastructure.store.db import Database

SPEC = {
    "team": "payments",
    "purpose": "keeps previews fresh",
    "identity": {"token_ttl_seconds": 600, "audiences": ["plinth-mcp", "plinth-gateway"]},
    "capability": {"actions": ["read", "plan", "apply"]},
}


@pytest.fixture
def org(database: Database, box: SecretBox, clock: FrozenClock, ids: SequentialIds) -> Database:
    """The team payments with the agent ``bot``."""
    with database.transaction() as session:
        identity.upsert_team(session, name="payments", description="", ids=ids, clock=clock)
        agents.upsert_agent(session, name="bot", spec=SPEC, box=box, ids=ids, clock=clock)
    return database


def issue(
    db: Database,
    box: SecretBox,
    ids: SequentialIds,
    clock: FrozenClock,
    *,
    audience: str = "plinth-mcp",
    ttl: int | None = None,
    scopes: tuple[str, ...] = (),
) -> agents.IssuedToken:
    """Issue a token to ``bot`` in its own transaction."""
    with db.transaction() as session:
        return agents.issue_agent_token(
            session,
            agent="bot",
            audience=audience,
            ttl_seconds=ttl,
            scopes=scopes,
            box=box,
            ids=ids,
            clock=clock,
        )


def authenticate(
    db: Database, box: SecretBox, clock: FrozenClock, token: str, audience: str = "plinth-mcp"
) -> Actor:
    """Authenticate in a fresh read session, as a request would."""
    with db.read() as session:
        return agents.authenticate_agent(session, token, audience=audience, box=box, clock=clock)


def refused(db: Database, box: SecretBox, clock: FrozenClock, token: str, **kw: Any) -> str:
    """Return the message of the Unauthenticated error authenticating ``token`` raises."""
    with pytest.raises(Unauthenticated) as info:
        authenticate(db, box, clock, token, **kw)
    return info.value.detail


def b64(data: dict[str, Any]) -> str:
    """Base64url JSON without padding."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_round_trip(org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock) -> None:
    issued = issue(org, box, ids, clock)
    assert agents.looks_like_jwt(issued.token)
    assert issued.expires_at == clock.now() + timedelta(seconds=600)
    assert (issued.audience, issued.scopes) == ("plinth-mcp", ("read", "plan", "apply"))
    assert issued.as_dict()["token_type"] == "Bearer"
    header = jwt.get_unverified_header(issued.token)
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and len(header["kid"]) == 43
    assert claims == {
        "iss": "plinth",
        "sub": "agent:bot",
        "aud": "plinth-mcp",
        "iat": int(clock.now().timestamp()),
        "nbf": int(clock.now().timestamp()),
        "exp": int(clock.now().timestamp()) + 600,
        "jti": issued.jti,
        "scope": "read plan apply",
    }
    clock.advance(599)
    actor = authenticate(org, box, clock, issued.token)
    assert (actor.name, actor.kind, actor.persona) == ("bot", "agent", "agent")
    assert actor.grants == (Grant(role="agent", team="payments"),)
    assert actor.audience == "plinth-mcp" and actor.scopes == ("read", "plan", "apply")
    assert actor.as_dict()["audience"] == "plinth-mcp"
    assert actor.as_dict()["scopes"] == ["read", "plan", "apply"]
    tokens.forget_keys()  # a fresh process: the public key is read from the store again
    assert authenticate(org, box, clock, issued.token).name == "bot"


def test_issue_stays_inside_the_spec(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    narrow = issue(org, box, ids, clock, audience="plinth-gateway", ttl=60, scopes=("read",))
    assert narrow.scopes == ("read",)
    assert authenticate(org, box, clock, narrow.token, "plinth-gateway").scopes == ("read",)
    with pytest.raises(InvalidInput, match="audience 'plinth-api'"):
        issue(org, box, ids, clock, audience="plinth-api")
    with pytest.raises(InvalidInput, match=r"outside 1\.\.600"):
        issue(org, box, ids, clock, ttl=601)
    with pytest.raises(InvalidInput, match=r"scopes \['approve'\]"):
        issue(org, box, ids, clock, scopes=("read", "approve"))
    with pytest.raises(NotFound, match="no agent named 'ghost'"), org.transaction() as session:
        agents.issue_agent_token(
            session,
            agent="ghost",
            audience="plinth-mcp",
            ttl_seconds=None,
            scopes=(),
            box=box,
            ids=ids,
            clock=clock,
        )


@pytest.mark.parametrize(
    "token",
    [
        "",
        "plt_notajwt",
        "a.b",
        "a.b.c.d",
        "e30.e30.",
        "!!!.e30.sig",
        "bm90IGpzb24.e30.c2ln",
        b64({"alg": "HS256", "kid": "k"}) + ".e30.c2ln",
        b64({"alg": "none"}) + ".e30.c2ln",
        b64({"alg": "EdDSA"}) + ".e30.c2ln",
        "e" * 9000 + ".e30.c2ln",
    ],
)
def test_malformed_tokens(org: Database, box: SecretBox, clock: FrozenClock, token: str) -> None:
    assert refused(org, box, clock, token).startswith("malformed token")


def test_unknown_key(org: Database, box: SecretBox, clock: FrozenClock) -> None:
    stranger = Ed25519PrivateKey.generate()
    token = jwt.encode({"sub": "agent:bot"}, stranger, algorithm="EdDSA", headers={"kid": "nope"})
    assert refused(org, box, clock, token).startswith("unknown signing key 'nope'")


def test_forged_and_tampered_tokens(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    issued = issue(org, box, ids, clock)
    kid = jwt.get_unverified_header(issued.token)["kid"]
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
    )
    assert refused(org, box, clock, forged).startswith("bad signature")
    head, _, signature = issued.token.split(".")
    tampered = ".".join([head, b64({**claims, "scope": "read plan apply approve"}), signature])
    assert refused(org, box, clock, tampered).startswith("bad signature")
    assert refused(org, box, clock, issued.token[:-4] + "AAAA").startswith("bad signature")


def test_wrong_audience(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    issued = issue(org, box, ids, clock, audience="plinth-gateway")
    message = refused(org, box, clock, issued.token, audience="plinth-mcp")
    assert message.startswith("wrong audience")
    assert "for 'plinth-gateway'" in message and "expects 'plinth-mcp'" in message


def test_expired_and_not_yet_valid(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    issued = issue(org, box, ids, clock, ttl=60)
    earlier = FrozenClock(clock.now() - timedelta(seconds=tokens.LEEWAY_SECONDS + 1))
    assert refused(org, box, earlier, issued.token).startswith("the token is not valid before")
    clock.advance(60 + tokens.LEEWAY_SECONDS - 1)
    assert authenticate(org, box, clock, issued.token).name == "bot"  # within the leeway
    clock.advance(1)
    assert refused(org, box, clock, issued.token).startswith("the token expired at")


def test_revocation_takes_effect_at_once(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    first, second, third = (issue(org, box, ids, clock) for _ in range(3))
    assert authenticate(org, box, clock, first.token).name == "bot"
    with org.transaction() as session:
        assert agents.revoke(session, agent="bot", jti=first.jti, actor="pat", clock=clock) == 1
        assert agents.revoke(session, agent="bot", jti=first.jti, actor="pat", clock=clock) == 0
        with pytest.raises(NotFound, match="has no token 'jti_x'"):
            agents.revoke(session, agent="bot", jti="jti_x", actor="pat", clock=clock)
    assert refused(org, box, clock, first.token).startswith(f"token {first.jti!r} was revoked")
    assert authenticate(org, box, clock, second.token).name == "bot"
    with org.transaction() as session:
        assert agents.revoke(session, agent="bot", jti=None, actor="pat", clock=clock) == 2
    assert "was revoked" in refused(org, box, clock, third.token)


def test_disabled_agent(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    issued = issue(org, box, ids, clock)
    with org.transaction() as session:
        agents.disable_agent(session, "bot", clock)
    assert refused(org, box, clock, issued.token).startswith("agent 'bot' is disabled")
    with pytest.raises(InvalidInput, match="is disabled"):
        issue(org, box, ids, clock)


def test_unknown_token_and_unknown_agent(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    issued = issue(org, box, ids, clock)
    with org.transaction() as session:
        key = tokens.current_signing_key(session, box=box, clock=clock)

        def signed(agent: str, jti: str) -> str:
            return tokens.sign(
                key,
                box=box,
                agent=agent,
                audience="plinth-mcp",
                jti=jti,
                scopes=(),
                issued_at=clock.now(),
                ttl_seconds=60,
            )

        never_issued = signed("bot", "jti_never")
        someone_else = signed("eve", issued.jti)
    assert "is not known here" in refused(org, box, clock, never_issued)
    assert refused(org, box, clock, someone_else) == "agent 'eve' is not registered (unknown agent)"


def test_rotation_keeps_old_tokens_valid(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    old = issue(org, box, ids, clock)
    old_kid = jwt.get_unverified_header(old.token)["kid"]
    with org.transaction() as session:
        new_kid = agents.rotate_signing_key(session, box=box, ids=ids, clock=clock)
    assert new_kid != old_kid
    new = issue(org, box, ids, clock)
    assert jwt.get_unverified_header(new.token)["kid"] == new_kid
    assert authenticate(org, box, clock, old.token).name == "bot"
    assert authenticate(org, box, clock, new.token).name == "bot"
    clock.advance(86_400 + tokens.LEEWAY_SECONDS)
    tokens.forget_keys()  # also when the retired key is read back from the store
    message = refused(org, box, clock, old.token)
    assert message == f"the token's signing key {old_kid!r} has expired"


def test_human_and_agent_tokens_never_mix(
    org: Database, box: SecretBox, ids: SequentialIds, clock: FrozenClock
) -> None:
    with org.transaction() as session:
        ada = identity.create_user(
            session, name="ada", persona="app-developer", grants=[], ids=ids, clock=clock
        )
        opaque = identity.issue_token(session, user_id=ada.id, ids=ids, clock=clock)
    assert not agents.looks_like_jwt(opaque)
    assert not agents.looks_like_jwt(new_token())
    assert refused(org, box, clock, opaque).startswith("malformed token")
    issued = issue(org, box, ids, clock)
    with org.read() as session, pytest.raises(Unauthenticated):
        identity.authenticate(session, issued.token)
