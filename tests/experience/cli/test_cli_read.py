"""get, describe, logs, templates, schema and audit against the fake API."""

from __future__ import annotations

import json

import yaml

from .conftest import Invoke
from .fake_api import FakeApi

WEB = "apiVersion: score.dev/v1b1\nmetadata:\n  name: web\ncontainers:\n  web:\n    image: nginx\n"


def test_get_output_formats(invoke: Invoke) -> None:
    table = invoke("get", "environments")
    assert table.exit_code == 0, table.output
    assert "NAME" in table.stdout and "env0" in table.stdout and "env6" in table.stdout
    as_json = json.loads(invoke("get", "env", "-o", "json").stdout)
    assert len(as_json["items"]) == 7 and as_json["next_page_token"] is None
    as_yaml = yaml.safe_load(invoke("get", "Environment", "-o", "yaml").stdout)
    assert as_yaml["items"][0] == {"name": "env0", "tier": "dev"}


def test_get_pages(invoke: Invoke, fake: FakeApi) -> None:
    one = invoke("get", "envs", "--limit", "3")
    assert "env2" in one.stdout and "env3" not in one.stdout
    assert "--all" in one.stderr
    fake.requests.clear()
    every = json.loads(invoke("get", "envs", "--limit", "3", "--all", "-o", "json").stdout)
    assert [e["name"] for e in every["items"]] == [f"env{i}" for i in range(7)]
    assert [r.url.params.get("page_token") for r in fake.requests] == [None, "3", "6"]


def test_get_errors(invoke: Invoke) -> None:
    unknown = invoke("get", "gizmos")
    assert unknown.exit_code == 2 and "unknown kind 'gizmos'" in unknown.stderr
    missing = invoke("get", "workload", "nope", "--env", "dev")
    assert missing.exit_code == 2 and "no workload 'nope'" in missing.stderr


def test_get_describe_and_logs_of_a_workload(invoke: Invoke) -> None:
    assert invoke("apply", "-f", "-", "--env", "dev", "--yes", input=WEB).exit_code == 0
    listed = invoke("get", "wl", "--env", "dev")
    assert "web" in listed.stdout and "PHASE" in listed.stdout
    one = yaml.safe_load(invoke("get", "wl", "web", "--env", "dev", "-o", "yaml").stdout)
    assert one["resources"][0]["outputs"] == {"password": "<secret>"}
    described = invoke("describe", "workload", "web", "--env", "dev")
    assert described.exit_code == 0, described.output
    for word in ("Resources", "postgres", "Outputs", "<secret>", "Events", "Started", "History"):
        assert word in described.stdout
    assert invoke("describe", "workload", "web").exit_code == 2
    logs = invoke("logs", "web", "--env", "dev", "--tail", "3")
    assert logs.stdout.splitlines() == ["web line 0", "web line 1", "web line 2"]


def test_plans_can_be_read_back(invoke: Invoke, fake: FakeApi) -> None:
    invoke("plan", "-f", "-", "--env", "dev", input=WEB)
    (digest,) = fake.plans
    assert digest in invoke("get", "plans", digest).stdout
    assert "+ create  web" in invoke("describe", "plan", digest).stdout


def test_templates(invoke: Invoke) -> None:
    listed = invoke("templates", "list")
    assert "web-service" in listed.stdout and "1.1.0" in listed.stdout
    shown = invoke("templates", "show", "web-service", "--version", "1.0.0")
    assert shown.exit_code == 0, shown.output
    for word in ("Parameters", "image", "Container image", "replicas", "maximum=5", "Bounds"):
        assert word in shown.stdout
    assert invoke("templates", "show", "web-service", "--version", "9").exit_code == 2


def test_schema_resolves_plural_names(invoke: Invoke) -> None:
    result = invoke("schema", "workloads")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["type"] == "object"


def test_audit_log_and_verify(invoke: Invoke, fake: FakeApi) -> None:
    assert invoke("apply", "-f", "-", "--env", "dev", "--yes", input=WEB).exit_code == 0
    log = invoke("audit", "log")
    assert "apply" in log.stdout and "h1" in log.stdout
    ok = invoke("audit", "verify")
    assert ok.exit_code == 0 and "1 records checked" in ok.stdout
    fake.tampered_seq = 1
    broken = invoke("audit", "verify")
    assert broken.exit_code == 1
    assert "broken at record #1: hash does not match" in broken.stderr
    assert "subject:" in broken.stdout
    raw = invoke("audit", "verify", "-o", "json")
    assert raw.exit_code == 1 and json.loads(raw.stdout)["ok"] is False


def test_describe_shows_the_secure_defaults_and_their_enforcement(
    invoke: Invoke, fake: FakeApi
) -> None:
    assert invoke("apply", "-f", "-", "--env", "dev", "--yes", input=WEB).exit_code == 0
    resource = fake.workloads[("dev", "web")]["resources"][0]
    resource["spec"] = {
        "security": {
            "runAsNonRoot": True,
            "networkPolicy": "default-deny",
            "tls": False,
            "optOuts": ["tls"],
            "enforcement": {
                "runAsNonRoot": "enforced",
                "networkPolicy": "declared, not enforced by the local provider",
                "tls": "turned off (opt-out)",
            },
        }
    }
    described = invoke("describe", "workload", "web", "--env", "dev")
    assert described.exit_code == 0, described.output
    text = " ".join(described.stdout.split())
    assert "Security" in text
    for row in (
        "db │ runAsNonRoot │ true │ enforced",
        "db │ networkPolicy │ default-deny │ declared, not enforced by the local provider",
        "db │ tls │ false │ turned off (opt-out)",
    ):
        assert row in text, described.stdout


def test_get_one_organisation_object_by_name(invoke: Invoke) -> None:
    one = json.loads(invoke("get", "env", "env4", "-o", "json").stdout)
    assert one == {"name": "env4", "tier": "dev"}
    missing = invoke("get", "env", "nope")
    assert missing.exit_code == 2 and "no environment named 'nope'" in missing.stderr
