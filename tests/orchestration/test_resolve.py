"""What the planner fills in from the platform's records: agent egress, model artifacts."""

from __future__ import annotations

import pytest

from plinth.core.errors import SpecError
from plinth.orchestration.plans import PlanRequest
from tests.orchestration.conftest import World

AGENT_WORKLOAD = """\
apiVersion: score.dev/v1b1
metadata:
  name: helper
  annotations: {"plinth.dev/agent": AGENT}
containers:
  main: {image: python:3.11-slim, command: ["sleep", "3600"]}
"""
MODEL_WORKLOAD = """\
apiVersion: score.dev/v1b1
metadata: {name: scorer}
containers:
  main: {image: python:3.11-slim, command: ["sleep", "3600"]}
resources:
  model: {type: model-deployment, params: {model: MODEL}}
"""


def plan(world: World, user: str, documents: str, environment: str = "dev") -> dict[str, object]:
    request = PlanRequest(environment=environment, project="checkout", documents=documents)
    return world.platform.plan(world.actor(user), request)


def test_an_agent_workload_gets_the_agent_egress_allow_list(world: World) -> None:
    made = plan(world, "ada", AGENT_WORKLOAD.replace("AGENT", "deploy-bot"))
    [job] = [c for c in made["changes"] if c["kind"] == "Resource"]  # type: ignore[attr-defined]
    assert job["after"]["egress"] == {"allow": ["localhost:8080"]}


def test_an_unknown_agent_or_model_is_a_spec_error_with_its_path(world: World) -> None:
    with pytest.raises(SpecError) as unknown_agent:
        plan(world, "ada", AGENT_WORKLOAD.replace("AGENT", "ghost"))
    [issue] = unknown_agent.value.issues
    assert "no agent named 'ghost'" in issue.message
    assert issue.path == "$.metadata.annotations['plinth.dev/agent']"
    with pytest.raises(SpecError) as unknown_model:
        plan(world, "ada", MODEL_WORKLOAD.replace("MODEL", "iris@9.9.9"))
    assert "no registered version 9.9.9" in unknown_model.value.issues[0].message
    with pytest.raises(SpecError) as malformed:
        plan(world, "ada", MODEL_WORKLOAD.replace("MODEL", "iris"))
    assert "name@version" in malformed.value.issues[0].message
