"""The teams' accelerator quotas as Kueue objects, for a cluster the Kubernetes provider runs in.

Reads the stored ``AcceleratorPool`` documents (their nodes and team queues), the
teams, projects and environments, and renders with the Kubernetes provider's
``render_kueue``: a ResourceFlavor per accelerator type, a Cohort per cohort, a
ClusterQueue per team queue and a LocalQueue in each namespace of that team's
projects (one namespace per project and environment, named as the provider names
them, from the same provider settings). Nothing is written: applying the objects
is left to the cluster's operators (``kubectl apply -f``) or to GitOps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from plinth.capabilities.identity import service as identity
from plinth.infrastructure.providers.kubernetes.kueue import render_kueue
from plinth.infrastructure.providers.kubernetes.names import namespace_name
from plinth.infrastructure.providers.kubernetes.provider import render_options
from plinth.infrastructure.store.pagination import Page
from plinth.orchestration.capacity import stored_pools

__all__ = ["kueue_objects"]

T = TypeVar("T")
_PAGE = 500


def _all(lister: Callable[..., Page[T]], session: Session) -> Iterator[T]:
    token: str | None = None
    while True:
        page = lister(session, limit=_PAGE, page_token=token)
        yield from page.items
        token = page.next_page_token
        if not token:
            return


def kueue_objects(session: Session, *, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the Kueue objects of the stored team quotas (``settings``: provider settings)."""
    pools = stored_pools(session)
    options = render_options(settings)
    teams = {team.id: team.name for team in _all(identity.list_teams, session)}
    environments = [env.name for env in _all(identity.list_environments, session)]
    queued = {queue.team for queue in pools.queues}
    namespaces: dict[str, list[str]] = {}
    for project in _all(identity.list_projects, session):
        team = teams.get(project.team_id)
        if team in queued:
            spaces = namespaces.setdefault(str(team), [])
            spaces.extend(namespace_name(project.name, env, options) for env in environments)
    return render_kueue(
        pools.queues,
        pools.pools,
        namespaces=namespaces,
        accelerator_resources=options.accelerator_resources,
        local_queue=options.local_queue,
    )
