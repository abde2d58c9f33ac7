"""Merging shared resources and ordering resources by dependency."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from plinth.core.documents import Document, ResourceSpec, parse_provenance, provenance
from plinth.core.errors import SpecError
from plinth.integration.importers.score import merge_shared, order_resources, translate_workload

FIXTURES = Path(__file__).parent / "fixtures"


def spec(
    name: str, *deps: str, shared: bool = False, source: str = "", **body: Any
) -> ResourceSpec:
    refs = {d: f"${{resources.{d}.host}}" for d in deps}
    return ResourceSpec(
        name,
        "thing",
        {**refs, **body},
        None if shared else "w",
        frozenset(deps),
        source or provenance("r.yaml", 0, f"resources.{name}"),
        shared,
    )


def load(name: str, index: int = 0) -> Document:
    raw = yaml.safe_load((FIXTURES / name).read_text())
    return Document(
        "score.dev/v1b1", "Workload", raw["metadata"]["name"], raw, index, str(FIXTURES / name)
    )


def test_shared_resources_across_two_workloads_merge() -> None:
    specs = translate_workload(load("web.yaml")) + translate_workload(load("worker.yaml", 1))
    merged = merge_shared(specs)
    names = [s.name for s in merged]
    assert names.count("postgres-main") == 1
    assert len(merged) == len(specs) - 1
    ordered = [s.name for s in order_resources(merged)]
    assert ordered.index("postgres-main") < ordered.index("web")
    assert ordered.index("postgres-main") < ordered.index("nightly-report")
    assert ordered.index("web") < ordered.index("web-dns")


def test_shared_resources_declared_differently() -> None:
    web = translate_workload(load("web.yaml"))
    raw = yaml.safe_load((FIXTURES / "worker.yaml").read_text())
    raw["resources"]["db"]["params"]["database"] = "reports"
    worker = Document("score.dev/v1b1", "Workload", "nightly-report", raw, 1, "b.yaml")
    with pytest.raises(SpecError) as info:
        merge_shared(web + translate_workload(worker))
    [issue] = info.value.issues
    web_file = FIXTURES / "web.yaml"
    assert issue.message == (
        f"shared resource postgres-main is declared differently by {web_file}#0 and b.yaml#1"
        " (database)"
    )
    assert (issue.file, issue.document, issue.path) == ("b.yaml", 1, "$.resources.db")


def test_shared_type_mismatch_and_private_clash() -> None:
    a = spec("x", shared=True, source="a.yaml#0 resources.x")
    b = ResourceSpec("x", "other", {}, None, frozenset(), "b.yaml#1 resources.x", True)
    with pytest.raises(SpecError, match=r"declared differently by a.yaml#0 and b.yaml#1 \(type\)"):
        merge_shared([a, b])
    with pytest.raises(SpecError, match="resource name x is used by both"):
        merge_shared([a, spec("x")])


def test_order_is_topological_with_name_tie_break() -> None:
    specs = [
        spec("web", "db", "cache"),
        spec("route", "web"),
        spec("db"),
        spec("cache"),
        spec("alpha"),
    ]
    assert [s.name for s in order_resources(specs)] == ["alpha", "cache", "db", "web", "route"]


def test_cycle_is_named() -> None:
    specs = [spec("b", "a"), spec("a", "b"), spec("c", "a"), spec("d")]
    with pytest.raises(SpecError) as info:
        order_resources(specs)
    [issue] = info.value.issues
    assert issue.message == "dependency cycle: a -> b -> a"
    assert (issue.file, issue.document, issue.path) == ("r.yaml", 0, "$.resources.a")


def test_longer_cycle_and_self_free() -> None:
    specs = [spec("x", "z"), spec("y", "x"), spec("z", "y")]
    with pytest.raises(SpecError, match="dependency cycle: x -> z -> y -> x"):
        order_resources(specs)


def test_dependency_on_missing_resource() -> None:
    specs = [spec("web", containers={"main": {"env": {"DB": "h=${resources.gone.host}"}}})]
    specs = [
        ResourceSpec(
            "web", "service", specs[0].spec, "web", frozenset({"gone"}), "web.yaml#2", False
        )
    ]
    with pytest.raises(SpecError) as info:
        order_resources(specs)
    [issue] = info.value.issues
    assert issue.message.startswith("unresolvable placeholder ${resources.gone.host}")
    assert (issue.file, issue.document, issue.path) == ("web.yaml", 2, "$.containers.main.env.DB")


def test_duplicate_names_must_be_merged_first() -> None:
    with pytest.raises(SpecError, match="merge shared resources first"):
        order_resources([spec("a"), spec("a")])


def test_provenance_round_trip() -> None:
    assert parse_provenance(provenance("dir#1/a.yaml", 4, "resources.db")) == (
        "dir#1/a.yaml",
        4,
        "resources.db",
    )
    assert parse_provenance(provenance(None, 0)) == (None, 0, "")
    assert parse_provenance("template web") == (None, None, "template web")


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.sets(st.sampled_from("abcdefgh")), min_size=1)
)
def test_order_respects_every_edge_or_finds_a_cycle(graph: dict[str, set[str]]) -> None:
    specs = [spec(n, *sorted(d & graph.keys() - {n})) for n, d in graph.items()]
    try:
        ordered = [s.name for s in order_resources(specs)]
    except SpecError as exc:
        loop = exc.issues[0].message.removeprefix("dependency cycle: ").split(" -> ")
        assert loop[0] == loop[-1]
        for here, there in itertools.pairwise(loop):
            assert there in graph[here]
        return
    assert sorted(ordered) == sorted(graph)
    for s in specs:
        assert all(ordered.index(d) < ordered.index(s.name) for d in s.depends_on)
    assert ordered == [s.name for s in order_resources(list(reversed(specs)))]
