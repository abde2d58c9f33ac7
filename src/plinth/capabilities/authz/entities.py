"""Cedar entities of a request: the principal (from an Actor) and the resource.

Principals are ``Plinth::User`` (humans, the system) or ``Plinth::Agent`` (actor kind
``agent``), members of ``Plinth::Role::"<role>@<team>"`` (``@org`` for organisation-wide
grants) and of ``Plinth::Team::"<team>"``. Their team roles are also entity tags (one tag
per team, the set of roles held there) so a policy can ask about the team of the request;
organisation-wide roles are the attribute ``org_roles``. Parsed entity handles are cached
per (actor, resource): an ``Actor`` is a frozen dataclass, hashable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import cedarpy

from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import InvalidInput

__all__ = [
    "NAMESPACE",
    "entities_for",
    "entity_uid",
    "held_roles",
    "owner_team",
    "principal_entity",
    "principal_uid",
    "resource_entity",
    "resource_key",
]

NAMESPACE = "Plinth"
AGENT_ROLE = "agent"


def entity_uid(type_: str, id_: str) -> dict[str, str]:
    """Return the Cedar uid of a ``Plinth`` entity."""
    return {"type": f"{NAMESPACE}::{type_}", "id": id_}


def principal_uid(actor: Actor) -> dict[str, str]:
    """Return the Cedar uid of an actor: a User or an Agent."""
    return entity_uid("Agent" if actor.kind == "agent" else "User", actor.name)


def held_roles(actor: Actor) -> str:
    """Return the roles an actor holds, as shown in reasons (``developer@payments, ...``)."""
    return ", ".join(f"{g.role}@{g.team or 'org'}" for g in actor.grants) or "no roles"


def owner_team(actor: Actor) -> str:
    """Return an agent's owner team (where it holds the ``agent`` role), or ``""``."""
    if actor.kind != "agent":
        return ""
    return next((g.team for g in actor.grants if g.role == AGENT_ROLE and g.team), "")


def principal_entity(actor: Actor) -> dict[str, Any]:
    """Return the Cedar entity (JSON form) of an actor."""
    tags: dict[str, list[str]] = {}
    for grant in actor.grants:
        if grant.team:
            tags.setdefault(grant.team, []).append(grant.role)
    parents = [entity_uid("Role", f"{g.role}@{g.team or 'org'}") for g in actor.grants]
    parents += [entity_uid("Team", team) for team in actor.teams]
    return {
        "uid": principal_uid(actor),
        "attrs": {
            "name": actor.name,
            "kind": actor.kind,
            "persona": actor.persona,
            "org_roles": sorted({g.role for g in actor.grants if g.team is None}),
            "teams": actor.teams,
            "owner_team": owner_team(actor),
            "audience": str(getattr(actor, "audience", "") or ""),
            "scopes": sorted(getattr(actor, "scopes", ()) or ()),
        },
        "parents": parents,
        "tags": tags,
    }


def resource_entity(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Cedar entity (JSON form) of a request's resource."""
    type_, id_ = resource.get("type"), resource.get("id")
    if not isinstance(type_, str) or not type_ or not isinstance(id_, str):
        raise InvalidInput("a resource needs a type and an id, e.g. {type: Environment, id: dev}")
    parents = [
        entity_uid(str(p["type"]), str(p["id"]))
        for p in resource.get("parents", ())
        if isinstance(p, Mapping)
    ]
    return {
        "uid": entity_uid(type_, id_),
        "attrs": dict(resource.get("attrs") or {}),
        "parents": parents,
    }


def resource_key(resource: Mapping[str, Any]) -> str:
    """Return the canonical JSON of a resource's entity (a cache key)."""
    return json.dumps(resource_entity(resource), sort_keys=True, default=str)


def entities_for(actor: Actor, resource: Mapping[str, Any]) -> cedarpy.Entities:
    """Return the parsed entities of a request (cached per actor and resource)."""
    return _entities(actor, resource_key(resource))


@lru_cache(maxsize=1024)
def _principal(actor: Actor) -> cedarpy.Entities:
    """Parse an actor's entity once."""
    try:
        return cedarpy.Entities.from_json_str(json.dumps([principal_entity(actor)]))
    except ValueError as error:
        raise InvalidInput(f"the actor's entity is not valid: {error}") from None


@lru_cache(maxsize=4096)
def _entities(actor: Actor, resource_json: str) -> cedarpy.Entities:
    """Add the resource's entity to the actor's (only the resource is parsed)."""
    if json.loads(resource_json)["uid"] == principal_uid(actor):
        return _principal(actor)
    try:
        return _principal(actor).with_added_json_str(f"[{resource_json}]")
    except ValueError as error:
        raise InvalidInput(f"the resource's entity is not valid: {error}") from None
