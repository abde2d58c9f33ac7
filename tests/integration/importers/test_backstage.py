"""The Backstage importer: entity references, validation with locations, mapping, export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from plinth.core.errors import SpecError
from plinth.integration.importers.backstage import EntityRef, format_ref, load_catalog, parse_ref
from plinth.integration.importers.backstage_export import LiveState, to_entities
from plinth.integration.importers.backstage_mapping import plinth_name, to_plinth

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: Team_Orders, description: Orders team}
spec: {type: team, children: [], members: [alice]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {memberOf: [Team_Orders]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {memberOf: ["group:default/Team_Orders"]}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: commerce}
spec: {owner: Team_Orders}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: orders, description: Order handling}
spec: {owner: Team_Orders, domain: commerce}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders-api
  annotations: {plinth.dev/score-file: api.score.yaml}
spec:
  type: service
  lifecycle: production
  owner: Team_Orders
  system: orders
  providesApis: [orders-rest]
  dependsOn: [resource:orders-db]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: orders-ui}
spec: {type: website, lifecycle: experimental, owner: user:alice, system: orders,
       consumesApis: [orders-rest]}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: orders-rest}
spec: {type: openapi, lifecycle: production, owner: Team_Orders, system: orders,
       definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1beta1
kind: Resource
metadata: {name: orders-db}
spec: {type: database, owner: Team_Orders, system: orders}
"""
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: anything}
containers:
  main: {image: "py:http.server"}
"""


def read_from(files: dict[str, str]) -> Callable[[str, str], str]:
    """Return a Score reader over in-memory files (keyed by relative path)."""

    def read(catalog_file: str, relative: str) -> str:
        if relative not in files:
            raise FileNotFoundError(relative)
        return files[relative]

    return read


def test_references_take_the_defaults_of_their_field() -> None:
    ref = parse_ref("Team_A", default_kind="group", default_namespace="ops")
    assert ref == EntityRef("group", "ops", "Team_A")
    assert parse_ref("User:Default/jo", default_kind="group", default_namespace="x") == EntityRef(
        "user", "default", "jo"
    )
    assert format_ref(parse_ref("ns/db", default_kind="resource", default_namespace="d")) == (
        "resource:ns/db"
    )
    for bad in ("", ":x", "a:/x", "a:b:c", "a/b/c"):
        with pytest.raises(ValueError):
            parse_ref(bad, default_kind="group", default_namespace="default")
    with pytest.raises(ValueError, match="needs a kind"):
        parse_ref("db", default_kind=None, default_namespace="default")


def test_a_valid_catalog_loads_with_every_entity() -> None:
    catalog = load_catalog([("catalog-info.yaml", CATALOG)])
    assert len(catalog.entities) == 9
    ui = catalog.entities[EntityRef("component", "default", "orders-ui")]
    assert ui.one("owner") == EntityRef("user", "default", "alice")
    assert ui.refs["consumesApis"] == [EntityRef("api", "default", "orders-rest")]


def test_every_problem_is_reported_with_file_document_and_field() -> None:
    bad = """\
apiVersion: backstage.io/v2
kind: Group
metadata: {name: a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: "-bad-"}
spec: {type: service, owner: group:nobody, dependsOn: [db]}
---
apiVersion: backstage.io/v1alpha1
kind: Gadget
metadata: {name: g}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: s}
spec: {owner: ghost}
"""
    with pytest.raises(SpecError) as caught:
        load_catalog([("c.yaml", bad)])
    found = {(i.file, i.document, i.path, i.message.split(" ")[0]) for i in caught.value.issues}
    assert ("c.yaml", 0, "$.apiVersion", "unknown") in found
    assert ("c.yaml", 1, "$.metadata.name", "'-bad-'") in found
    assert ("c.yaml", 1, "$.spec.lifecycle", "missing") in found
    assert ("c.yaml", 1, "$.spec.dependsOn[0]", "'db'") in found
    assert ("c.yaml", 2, "$.kind", "unknown") in found
    assert ("c.yaml", 3, "$.spec.owner", "group:default/ghost") in found


def test_duplicates_and_unreadable_yaml_are_errors() -> None:
    group = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: a}\n"
    group += "spec: {type: team, children: []}\n"
    with pytest.raises(SpecError) as caught:
        load_catalog([("one.yaml", group), ("two.yaml", group), ("three.yaml", "a: [")])
    messages = [(i.file, i.message) for i in caught.value.issues]
    assert ("two.yaml", "group:default/a is already defined in one.yaml document 0") in messages
    assert any(f == "three.yaml" and m.startswith("invalid YAML") for f, m in messages)


def test_mapping_gives_teams_projects_and_workloads() -> None:
    catalog = load_catalog([("catalog-info.yaml", CATALOG)])
    plan = to_plinth(catalog, environment="dev", read=read_from({"api.score.yaml": SCORE}))
    team, project = plan.organisation
    assert team["metadata"]["name"] == "team-orders"
    assert team["spec"]["members"] == [{"user": "alice"}, {"user": "bob"}]
    assert project["spec"] == {"team": "team-orders", "description": "Order handling"}
    assert project["metadata"]["labels"] == {"plinth.dev/domain": "commerce"}
    notes = project["metadata"]["annotations"]
    assert json.loads(notes["catalog.plinth.dev/component.orders-ui"])["type"] == "website"
    assert json.loads(notes["catalog.plinth.dev/resource.orders-db"]) == {"type": "database"}
    ((env, project_name, workload, source),) = plan.workloads
    assert (env, project_name, source) == ("dev", "orders", "api.score.yaml")
    assert workload["metadata"]["name"] == "orders-api"
    assert workload["metadata"]["annotations"]["plinth.dev/provides-apis"] == "orders-rest"
    assert workload["resources"] == {"orders-db": {"type": "postgres", "id": "orders-db"}}


def test_unmappable_entities_are_refused_naming_them() -> None:
    catalog = load_catalog([("catalog-info.yaml", CATALOG)])
    with pytest.raises(SpecError) as caught:
        to_plinth(catalog, environment="dev", read=read_from({}))
    (issue,) = caught.value.issues
    assert (issue.file, issue.document) == ("catalog-info.yaml", 5)
    assert "cannot read Score file 'api.score.yaml'" in issue.message
    lonely = CATALOG.replace("system: orders,\n       consumesApis", "consumesApis")
    with pytest.raises(SpecError) as caught:
        to_plinth(load_catalog([("c.yaml", lonely)]), environment="dev", read=read_from({}))
    messages = {(i.document, i.path): i.message for i in caught.value.issues}
    assert "needs spec.system" in messages[(6, "$.spec.system")]


def test_names_become_plinth_names() -> None:
    assert plinth_name("Team_Orders.EU") == "team-orders-eu"


def test_exported_entities_are_a_valid_catalog_that_maps_back(tmp_path: Path) -> None:
    state = LiveState(
        teams=[{"name": "payments", "description": "Pay", "members": ["ada"]}],
        projects=[
            {
                "name": "checkout",
                "team": "payments",
                "description": "",
                "labels": {"plinth.dev/domain": "shop"},
                "annotations": {
                    "catalog.plinth.dev/component.legacy": '{"lifecycle":"production","type":"x"}'
                },
            }
        ],
        workloads=[
            {
                "name": "web",
                "project": "checkout",
                "environment": "prod",
                "tier": "prod",
                "annotations": {},
                "resource_id": "res_1",
            }
        ],
        resources=[
            {
                "id": "res_1",
                "name": "web",
                "type": "service",
                "project": "checkout",
                "workloads": ["web"],
            },
            {
                "id": "res_2",
                "name": "web-db",
                "type": "postgres",
                "project": "checkout",
                "workloads": ["web"],
            },
        ],
    )
    entities = to_entities(state, location="http://plinth.test/catalog-info.yaml")
    kinds = sorted((e["kind"], e["metadata"]["name"]) for e in entities)
    assert ("Component", "web") in kinds and ("Component", "legacy") in kinds
    assert ("Resource", "web-db") in kinds and ("Resource", "web") not in kinds
    assert all(kind != "Template" for kind, _ in kinds)  # no scaffolder templates without steps
    web = next(e for e in entities if e["metadata"]["name"] == "web")
    assert web["spec"]["lifecycle"] == "production"
    assert web["spec"]["dependsOn"] == ["resource:default/web-db"]
    assert web["metadata"]["annotations"]["plinth.dev/resource-id"] == "res_1"
    text = yaml.safe_dump_all(entities)
    catalog = load_catalog([("export.yaml", text)])
    assert catalog.skipped == []
    plan = to_plinth(catalog, environment="dev", read=read_from({}))
    summary = plan.summary()
    assert (summary["teams"], summary["projects"]) == (["payments"], ["checkout"])
    project = plan.organisation[1]
    assert sorted(project["metadata"]["annotations"]) == [
        "catalog.plinth.dev/component.legacy",
        "catalog.plinth.dev/component.web",
        "catalog.plinth.dev/resource.web-db",
        "plinth.dev/backstage-ref",
    ]


def test_export_names_repeated_across_projects_apart() -> None:
    state = LiveState(
        teams=[{"name": "payments", "description": "", "members": []}],
        projects=[
            {"name": p, "team": "payments", "description": "", "labels": {}, "annotations": {}}
            for p in ("checkout", "billing")
        ],
        workloads=[
            {
                "name": "web",
                "project": p,
                "environment": "dev",
                "tier": "dev",
                "annotations": {},
                "resource_id": f"res_{p}",
            }
            for p in ("checkout", "billing")
        ],
        resources=[
            {"id": f"db_{p}", "name": "db", "type": "postgres", "project": p, "workloads": ["web"]}
            for p in ("checkout", "billing")
        ],
    )
    entities = to_entities(state, location="http://plinth.test/catalog-info.yaml")
    named = {(e["kind"], e["metadata"]["name"]): e for e in entities}
    assert ("Component", "checkout-web") in named and ("Component", "billing-web") in named
    assert named[("Component", "billing-web")]["spec"]["dependsOn"] == [
        "resource:default/billing-db"
    ]
    assert ("Resource", "checkout-db") in named and ("Resource", "db") not in named
    load_catalog([("export.yaml", yaml.safe_dump_all(entities))])  # valid, no duplicates
