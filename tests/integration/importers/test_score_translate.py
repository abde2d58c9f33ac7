"""Translating Score workloads into provider resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plinth.core.documents import Document, ResourceSpec
from plinth.core.errors import Issue, SpecError
from plinth.integration.importers.score import resource_name, translate_workload

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str, index: int = 0) -> Document:
    path = FIXTURES / name
    raw = list(yaml.safe_load_all(path.read_text()))[index]
    return Document("score.dev/v1b1", "Workload", raw["metadata"]["name"], raw, index, str(path))


def workload(text: str, *, file: str | None = "w.yaml", index: int = 3) -> Document:
    raw: dict[str, Any] = {"apiVersion": "score.dev/v1b1", **yaml.safe_load(text)}
    return Document("score.dev/v1b1", "Workload", raw["metadata"]["name"], raw, index, file)


def by_name(specs: list[ResourceSpec]) -> dict[str, ResourceSpec]:
    return {s.name: s for s in specs}


def issues(doc: Document) -> list[Issue]:
    with pytest.raises(SpecError) as info:
        translate_workload(doc)
    return info.value.issues


def test_web_service() -> None:
    specs = by_name(translate_workload(fixture("web.yaml")))
    assert list(specs) == ["web", "web-cache", "web-data", "postgres-main", "web-dns"]
    web = specs["web"]
    assert (web.type, web.workload, web.shared) == ("service", "web", False)
    assert web.depends_on == {"postgres-main", "web-data"}
    assert web.source.endswith("fixtures/web.yaml#0")
    main = web.spec["containers"]["main"]
    assert main["command"] == ["/bin/web"]
    assert main["args"] == ["--listen", ":8080", "--name", "web"]
    assert main["env"] == {
        "DATABASE_URL": "postgresql://${resources.postgres-main.username}:"
        "${resources.postgres-main.password}@${resources.postgres-main.host}:"
        "${resources.postgres-main.port}/${resources.postgres-main.database}",
        "DB_PORT": "${resources.postgres-main.port}",
        "OWNER": "alice",
        "TEAM": "payments",
        "LITERAL": "costs $${price} today",
        "WORKERS": "4",
        "DEBUG": "false",
    }
    assert main["files"] == [
        {
            "target": "/etc/web/config.toml",
            "content": 'name = "web"\ndb_host = "${resources.postgres-main.host}"\n',
            "mode": "0644",
        },
        {
            "target": "/etc/web/motd",
            "content": "Welcome to web, owned by payments.\n",
            "mode": None,
        },
        {"target": "/etc/web/raw.txt", "content": "keep $${this} as is", "mode": None},
    ]
    assert web.spec["ports"] == [
        {"name": "metrics", "port": 9090, "protocol": "TCP"},
        {"name": "www", "port": 80, "protocol": "TCP"},
    ]
    assert web.spec["healthcheck"] == {"http": {"path": "/healthz", "port": "www"}}
    assert web.spec["resources"] == {"cpu": "1", "memory": "320Mi"}
    assert web.spec["volumes"] == [
        {
            "source": "${resources.web-data.path}/uploads",
            "target": "/var/lib/web",
            "read_only": False,
        }
    ]
    assert web.spec["restart"] == "always"
    assert set(web.spec) == {
        "containers",
        "ports",
        "healthcheck",
        "resources",
        "volumes",
        "restart",
    }


def test_web_resources() -> None:
    specs = by_name(translate_workload(fixture("web.yaml")))
    db = specs["postgres-main"]
    assert (db.type, db.spec, db.shared, db.workload) == (
        "postgres",
        {"database": "shop"},
        True,
        None,
    )
    assert db.source.endswith("web.yaml#0 resources.db")
    assert specs["web-data"].spec == {"size": "1Gi"}
    assert specs["web-data"].workload == "web"
    route = specs["web-dns"]
    assert route.spec == {
        "host": "web.example.test",
        "path": "/",
        "port": 80,
        "backend_url": "${resources.web.urls.www}",
    }
    assert route.depends_on == {"web"}
    assert specs["web-cache"].spec == {"maxmemory": "64mb", "owner": "web"}
    assert specs["web-cache"].type == "redis"


def test_job_with_map_volumes() -> None:
    job, db, scratch = translate_workload(fixture("worker.yaml"))
    assert (job.name, job.type) == ("nightly-report", "job")
    assert job.spec["schedule"] == "0 3 * * *"
    assert job.spec["timeout_s"] == 600
    assert "ports" not in job.spec and "healthcheck" not in job.spec
    assert "restart" not in job.spec
    assert job.spec["volumes"] == [
        {
            "source": "${resources.nightly-report-scratch.path}",
            "target": "/scratch",
            "read_only": False,
        }
    ]
    assert job.spec["containers"]["report"]["env"] == {
        "PGDATABASE": "${resources.postgres-main.database}"
    }
    assert (db.name, scratch.name, scratch.spec) == (
        "postgres-main",
        "nightly-report-scratch",
        {"size": None},
    )


def test_map_forms_and_liveness_probe() -> None:
    api, store = translate_workload(fixture("map-forms.yaml"))
    assert api.spec["containers"]["api"]["files"] == [
        {"target": "/etc/api/settings.json", "content": '{"service": "api"}', "mode": None}
    ]
    assert api.spec["volumes"] == [
        {"source": "${resources.api-store.path}", "target": "/data", "read_only": True}
    ]
    assert api.spec["healthcheck"] == {"http": {"path": "/live", "port": "http"}}
    assert store.spec == {"size": "5Gi"}


MINIMAL = """
metadata: {name: svc}
containers:
  main:
    image: busybox
"""


def test_minimal_workload() -> None:
    [svc] = translate_workload(workload(MINIMAL))
    assert svc.spec == {
        "containers": {
            "main": {"image": "busybox", "command": [], "args": [], "env": {}, "files": []}
        },
        "ports": [],
        "healthcheck": None,
        "resources": {"cpu": None, "memory": None},
        "volumes": [],
        "restart": "always",
    }
    assert svc.depends_on == frozenset()


def test_exec_probe_and_unmatched_probe_port() -> None:
    text = (
        MINIMAL
        + """
    readinessProbe: {httpGet: {path: /, port: 1234}}
  zz:
    image: busybox
    livenessProbe: {exec: {command: [/bin/true]}}
service:
  ports: {b: {port: 81}, a: {port: 80}}
"""
    )
    [svc] = translate_workload(workload(text))
    assert svc.spec["healthcheck"] == {"http": {"path": "/", "port": "a"}}
    only_exec = workload(text.replace("readinessProbe: {httpGet: {path: /, port: 1234}}", ""))
    [svc] = translate_workload(only_exec)
    assert svc.spec["healthcheck"] == {"exec": {"command": ["/bin/true"]}}


def test_resource_names_are_sanitised() -> None:
    assert resource_name("Postgres-My_DB..1") == "postgres-my-db-1"
    assert resource_name("x" * 80) == "x" * 63
    text = MINIMAL + "resources:\n  My_Cache: {type: redis}\n  shared: {type: s3, id: Bucket.One}\n"
    names = [s.name for s in translate_workload(workload(text))]
    assert names == ["svc", "svc-my-cache", "s3-bucket-one"]


def test_reference_to_undeclared_resource() -> None:
    text = MINIMAL + "    variables: {DB: 'host=${resources.db.host}'}\n"
    [issue] = issues(workload(text))
    assert (issue.file, issue.document, issue.path) == (
        "w.yaml",
        3,
        "$.containers.main.variables.DB",
    )
    assert issue.message == (
        "unresolvable placeholder ${resources.db.host}: the workload declares no resource 'db'"
    )


def test_unknown_metadata_and_root() -> None:
    text = MINIMAL + "    command: ['${metadata.annotations.nope}', '${env.HOME}']\n"
    found = issues(workload(text))
    assert [i.path for i in found] == ["$.containers.main.command[0]"]
    text = MINIMAL + "    args: ['${env.HOME}']\n"
    [issue] = issues(workload(text))
    assert issue.path == "$.containers.main.args[0]"
    assert "starts with 'metadata.' or 'resources.'" in issue.message


def test_malformed_placeholder_in_params() -> None:
    text = MINIMAL + "resources:\n  q: {type: queue, params: {name: '${oops'}}\n"
    [issue] = issues(workload(text))
    assert issue.path == "$.resources.q.params.name"
    assert "malformed placeholder" in issue.message


def test_route_port_must_match_a_service_port() -> None:
    text = MINIMAL + (
        "service: {ports: {web: {port: 80}}}\n"
        "resources:\n  r: {type: route, params: {host: a.test, path: /x, port: 8080}}\n"
    )
    [issue] = issues(workload(text))
    assert (issue.document, issue.path) == (3, "$.resources.r.params.port")
    assert issue.message == "route port 8080 matches no service port (ports: web=80)"


def test_volume_source_must_be_declared() -> None:
    text = MINIMAL + "    volumes: [{source: '${resources.data}', target: /d}]\n"
    [issue] = issues(workload(text))
    assert issue.path == "$.containers.main.volumes[0].source"


def test_bare_resource_reference_means_source() -> None:
    text = MINIMAL + ("    variables: {V: '${resources.vol}'}\nresources:\n  vol: {type: volume}\n")
    svc, _vol = translate_workload(workload(text))
    assert svc.spec["containers"]["main"]["env"]["V"] == "${resources.svc-vol.source}"
    assert svc.depends_on == {"svc-vol"}


def test_resource_params_may_reference_other_resources() -> None:
    text = MINIMAL + (
        "resources:\n  db: {type: postgres}\n"
        "  app-user:\n    type: db-user\n"
        "    params: {server: '${resources.db.host}', me: '${metadata.name}'}\n"
    )
    specs = by_name(translate_workload(workload(text)))
    user = specs["svc-app-user"]
    assert user.spec == {"server": "${resources.svc-db.host}", "me": "svc"}
    assert user.depends_on == {"svc-db"}
    assert user.workload == "svc"


def test_job_annotations_are_checked() -> None:
    text = """
metadata:
  name: j
  annotations:
    plinth.dev/type: job
    plinth.dev/schedule: "every day"
    plinth.dev/timeout-seconds: "-5"
containers: {main: {image: busybox}}
"""
    found = issues(workload(text))
    assert [i.path for i in found] == [
        "$.metadata.annotations['plinth.dev/schedule']",
        "$.metadata.annotations['plinth.dev/timeout-seconds']",
    ]
    text = text.replace("job", "daemon")
    [issue] = issues(workload(text))
    assert issue.path == "$.metadata.annotations['plinth.dev/type']"


def test_plain_job_defaults() -> None:
    text = "metadata: {name: j, annotations: {plinth.dev/type: job}}\ncontainers: {m: {image: x}}\n"
    [job] = translate_workload(workload(text))
    assert (job.spec["schedule"], job.spec["timeout_s"]) == (None, None)


def test_http_probe_needs_a_port() -> None:
    text = MINIMAL + "    readinessProbe: {httpGet: {path: /, port: 80}}\n"
    [issue] = issues(workload(text))
    assert issue.path == "$.containers.main.readinessProbe.httpGet"


def test_invalid_quantity() -> None:
    text = MINIMAL + "    resources: {limits: {memory: lots}}\n"
    [issue] = issues(workload(text))
    assert issue.path == "$.containers.main.resources.limits.memory"


def test_file_source_problems(tmp_path: Path) -> None:
    text = MINIMAL + "    files: [{target: /a, source: missing.txt}]\n"
    [issue] = issues(workload(text, file=str(tmp_path / "w.yaml")))
    assert issue.path == "$.containers.main.files[0].source"
    assert "cannot read file source" in issue.message
    [issue] = issues(workload(text, file=None))
    assert issue.file is None and issue.path == "$.containers.main.files[0].source"


def test_name_clashes() -> None:
    text = """
metadata: {name: a-b}
containers: {main: {image: x}}
resources:
  c: {type: redis}
"""
    clash = workload(
        text.replace("name: a-b", "name: a").replace("  c:", "  b-c:") + "  b_c: {type: redis}\n"
    )
    [issue] = issues(clash)
    assert issue.path in ("$.resources.b-c", "$.resources.b_c")
    assert "already used" in issue.message


def test_only_workloads_translate() -> None:
    doc = Document("plinth.dev/v1", "Team", "t", {"metadata": {"name": "t"}}, 0, "t.yaml")
    with pytest.raises(SpecError, match="expected a Workload"):
        translate_workload(doc)
