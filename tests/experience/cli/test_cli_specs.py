"""plan, apply, delete and approvals against the fake API: rendering and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .conftest import Invoke
from .fake_api import FakeApi

WEB = "apiVersion: score.dev/v1b1\nmetadata:\n  name: web\ncontainers:\n  web:\n    image: nginx\n"
WEB2 = WEB.replace("image: nginx", "image: nginx:2")


def _apply_web(invoke: Invoke, text: str = WEB) -> None:
    result = invoke("apply", "-f", "-", "--env", "dev", "--yes", input=text)
    assert result.exit_code == 0, result.output


def test_plan_shows_changes_gates_digest_and_next_step(invoke: Invoke, fake: FakeApi) -> None:
    result = invoke("plan", "-f", "-", "--env", "dev", input=WEB)
    assert result.exit_code == 0, result.output
    (digest,) = fake.plans
    assert "+ create  web" in result.stdout
    assert "Plan: 1 to create." in result.stdout
    assert "authorization" in result.stdout and "ada asked for dev" in result.stdout
    assert f"Digest: {digest}" in result.stdout
    assert f"plinth apply --plan {digest}" in result.stdout
    assert fake.workloads == {}


def test_plan_diff_of_an_update(invoke: Invoke) -> None:
    _apply_web(invoke)
    result = invoke("plan", "-f", "-", "--env", "dev", input=WEB2)
    assert "~ update  web" in result.stdout
    assert 'containers.web.image: "nginx" → "nginx:2"' in result.stdout


def test_plan_raw_output(invoke: Invoke, fake: FakeApi, workdir: Path) -> None:
    (workdir / "web.yaml").write_text(WEB)
    as_json = json.loads(invoke("plan", "-f", "web.yaml", "--env", "dev", "-o", "json").stdout)
    assert as_json["changes"][0]["name"] == "web"
    assert json.loads(fake.requests[-1].content)["file"] == "web.yaml"
    as_yaml = yaml.safe_load(invoke("plan", "-f", "web.yaml", "--env", "dev", "-o", "yaml").stdout)
    assert as_yaml["outcome"] == "allow"


def test_spec_errors_name_file_document_and_path(invoke: Invoke, workdir: Path) -> None:
    (workdir / "a.yaml").write_text(WEB)
    (workdir / "b.yaml").write_text("# two documents\n" + WEB + "---\nmetadata: {}\n")
    result = invoke("plan", "-f", "a.yaml", "-f", "b.yaml", "--env", "dev")
    assert result.exit_code == 2
    assert "b.yaml: document 1: $.metadata.name: missing required field 'name'" in result.stderr
    missing = invoke("plan", "-f", "nope.yaml", "--env", "dev")
    assert missing.exit_code == 2
    assert "nope.yaml: $: file not found" in missing.stderr


def test_invalid_input_exits_2(invoke: Invoke) -> None:
    assert invoke("plan", "-f", "-", input=WEB).exit_code == 2
    assert invoke("apply", "-f", "x.yaml", "--plan", "abc").exit_code == 2
    assert invoke("apply", "--plan", "unknown", "--yes").exit_code == 2


def test_apply_needs_yes_without_a_terminal(invoke: Invoke, fake: FakeApi) -> None:
    result = invoke("apply", "-f", "-", "--env", "dev", input=WEB)
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr
    assert fake.workloads == {}


def test_apply_yes_applies_and_waits(invoke: Invoke, fake: FakeApi) -> None:
    result = invoke("apply", "-f", "-", "--env", "dev", "--yes", "--wait", input=WEB)
    assert result.exit_code == 0, result.output
    assert "Applied plan" in result.stdout and "(decision #1)" in result.stdout
    assert ("dev", "web") in fake.workloads
    assert fake.polls >= 2
    again = invoke("apply", "-f", "-", "--env", "dev", input=WEB)
    assert again.exit_code == 0 and "No changes" in again.stdout


def test_apply_wait_names_the_failed_resource_and_its_reason(invoke: Invoke, fake: FakeApi) -> None:
    fake.fail_with = "exit code 126: permission denied"
    result = invoke("apply", "-f", "-", "--env", "dev", "-y", "--wait", input=WEB)
    assert result.exit_code == 1
    assert "exit code 126: permission denied" in result.stderr


def test_apply_wait_times_out(invoke: Invoke, fake: FakeApi) -> None:
    fake.ready_after = 10**6
    result = invoke("apply", "-f", "-", "--env", "dev", "-y", "--wait", "--timeout", "0", input=WEB)
    assert result.exit_code == 1
    assert "timed out" in result.stderr


def test_apply_waiting_for_approval_exits_4_then_approve(invoke: Invoke, fake: FakeApi) -> None:
    result = invoke("apply", "-f", "-", "--env", "prod", "--yes", input=WEB)
    assert result.exit_code == 4, result.output
    (digest,) = fake.plans
    assert f"Waiting for approval: plan {digest}" in result.stdout
    assert f"plinth approvals approve {digest} --apply" in result.stdout
    listed = json.loads(invoke("approvals", "list", "-o", "json").stdout)
    assert [a["digest"] for a in listed["items"]] == [digest]
    approved = invoke("--as", "pat", "approvals", "approve", digest, "--reason", "ok", "--apply")
    assert approved.exit_code == 0, approved.output
    assert ("prod", "web") in fake.workloads


def test_denied_plan_exits_3(invoke: Invoke, fake: FakeApi) -> None:
    fake.outcomes["locked"] = "deny"
    planned = invoke("plan", "-f", "-", "--env", "locked", input=WEB)
    assert planned.exit_code == 3
    assert "use dev" in planned.stdout and "denied" in planned.stdout
    applied = invoke("apply", "-f", "-", "--env", "locked", "--yes", input=WEB)
    assert applied.exit_code == 3
    assert fake.workloads == {}


def test_gate_denied_on_apply_and_rejected_plan(invoke: Invoke, fake: FakeApi) -> None:
    invoke("plan", "-f", "-", "--env", "prod", input=WEB)
    (digest,) = fake.plans
    denied = invoke("approvals", "deny", digest, "--reason", "no")
    assert denied.exit_code == 0 and "Denied plan" in denied.stdout
    fake.plans[digest]["status"] = "needs_approval"
    fake.plans[digest]["outcome"] = "deny"
    result = invoke("apply", "--plan", digest, "--yes")
    assert result.exit_code == 3


def test_forbidden_exits_3_and_conflict_exits_1(invoke: Invoke, fake: FakeApi) -> None:
    forbidden = invoke("--as", "viewer", "plan", "-f", "-", "--env", "dev", input=WEB)
    assert forbidden.exit_code == 3
    assert "viewer may not change anything" in forbidden.stderr
    _apply_web(invoke)
    (digest,) = fake.plans
    conflict = invoke("apply", "--plan", digest, "--yes")
    assert conflict.exit_code == 1
    assert "already applied" in conflict.stderr


def test_delete_through_a_plan(invoke: Invoke, fake: FakeApi) -> None:
    _apply_web(invoke)
    result = invoke("delete", "wl", "web", "--env", "dev", "--yes")
    assert result.exit_code == 0, result.output
    assert "- delete  web" in result.stdout
    assert fake.workloads == {}
    assert json.loads(fake.requests[-2].content)["delete"] == {"kind": "Workload", "name": "web"}
    assert invoke("delete", "workload", "web", "--env", "dev", "--yes").exit_code == 2
    assert invoke("delete", "gizmo", "web", "--env", "dev").exit_code == 2


def test_approvals_wait_exits_by_decision(invoke: Invoke, fake: FakeApi) -> None:
    invoke("apply", "-f", "-", "--env", "prod", "--yes", input=WEB)
    (digest,) = fake.plans
    pending = invoke("approvals", "wait", digest, "--timeout", "0")
    assert pending.exit_code == 4, pending.output
    invoke("--as", "pat", "approvals", "approve", digest, "--reason", "ok")
    approved = invoke("approvals", "wait", digest, "--timeout", "5", "-o", "json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["status"] == "approved"
    fake.plans[digest]["status"] = "rejected"
    assert invoke("approvals", "wait", digest, "--timeout", "5").exit_code == 1
