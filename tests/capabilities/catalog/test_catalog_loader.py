"""Loading and validating declarative documents."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plinth.capabilities.catalog.loader import MAX_VALUES, load_documents, load_files
from plinth.core.documents import Document
from plinth.core.errors import Issue, SpecError

FIXTURES = Path(__file__).parents[2] / "integration" / "importers" / "fixtures"

ENVIRONMENT = """\
apiVersion: plinth.dev/v1
kind: Environment
metadata:
  name: staging
  labels: {cost-center: "42"}
spec:
  description: Pre-production
  tier: staging
  protected: true
  region: eu-west-1
"""

TEAM_AND_PROJECT = """\
apiVersion: plinth.dev/v1
kind: Team
metadata: {name: payments}
spec:
  members:
    - {user: alice, role: owner}
    - {user: bob}
---
apiVersion: plinth.dev/v1
kind: Project
metadata: {name: shop}
spec: {team: payments, description: The shop}
---
"""


def issues_of(text: str, *, file: str | None = "specs.yaml") -> list[Issue]:
    with pytest.raises(SpecError) as info:
        load_documents(text, file=file)
    return info.value.issues


def only_issue(text: str) -> Issue:
    issues = issues_of(text)
    assert len(issues) == 1, issues
    return issues[0]


def test_loads_plinth_kinds_with_properties() -> None:
    [env] = load_documents(ENVIRONMENT, file="env.yaml")
    assert (env.api_version, env.kind, env.name, env.index, env.file) == (
        "plinth.dev/v1",
        "Environment",
        "staging",
        0,
        "env.yaml",
    )
    assert env.spec["tier"] == "staging"
    assert env.labels == {"cost-center": "42"}
    assert env.annotations == {}
    assert env.metadata["name"] == "staging"


def test_trailing_separator_is_skipped_and_indices_follow_the_file() -> None:
    team, project = load_documents(TEAM_AND_PROJECT)
    assert (team.kind, team.index, project.kind, project.index) == ("Team", 0, "Project", 1)
    assert project.spec == {"team": "payments", "description": "The shop"}


def test_score_files_are_workloads() -> None:
    docs = load_files(sorted(FIXTURES.glob("*.yaml")))
    assert {d.kind for d in docs} == {"Workload"}
    assert {d.name for d in docs} == {"web", "nightly-report", "api"}
    assert all(d.api_version == "score.dev/v1b1" and d.file for d in docs)


def test_invalid_yaml_reports_line_and_column() -> None:
    issue = only_issue("apiVersion: plinth.dev/v1\nkind: [Team\n")
    assert issue.file == "specs.yaml"
    assert issue.document == 0
    assert "invalid YAML at line 3" in issue.message


def test_invalid_yaml_in_second_document_keeps_issues_of_the_first() -> None:
    text = "apiVersion: nope/v1\n---\nkey: {\n"
    issues = issues_of(text)
    assert [(i.document, i.path) for i in issues] == [(0, "$.apiVersion"), (1, "$")]
    assert issues[1].message.startswith("invalid YAML")


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "---\n---\n"])
def test_empty_file(text: str) -> None:
    issue = only_issue(text)
    assert issue.message == "file contains no documents"
    assert issue.file == "specs.yaml"


@pytest.mark.parametrize(("text", "what"), [("- a\n- b\n", "list"), ("hello\n", "str")])
def test_document_must_be_a_mapping(text: str, what: str) -> None:
    issue = only_issue(text)
    assert (issue.path, issue.document) == ("$", 0)
    assert issue.message == f"document must be a mapping, not a {what}"


def test_missing_api_version() -> None:
    issue = only_issue("kind: Team\nmetadata: {name: a}\n")
    assert issue.path == "$.apiVersion"
    assert "missing required field 'apiVersion'" in issue.message


def test_unknown_api_version_lists_known() -> None:
    issue = only_issue("apiVersion: score.dev/v1\nmetadata: {name: a}\n")
    assert issue.path == "$.apiVersion"
    assert "plinth.dev/v1" in issue.message
    assert "score.dev/v1b1" in issue.message


def test_unknown_and_missing_kind_list_known() -> None:
    issues = issues_of("apiVersion: plinth.dev/v1\nkind: Tem\n---\napiVersion: plinth.dev/v1\n")
    assert [(i.document, i.path) for i in issues] == [(0, "$.kind"), (1, "$.kind")]
    assert "unknown kind 'Tem'" in issues[0].message
    for issue in issues:
        known = (
            "AcceleratorPool, Agent, Application, AuthorizationPolicy, Budget, Environment, "
            "LlmAccess, LlmProvider, McpServer, Model, Policy, PolicyException, PriceBook, "
            "Project, Team"
        )
        assert known in issue.message


def test_schema_violations_carry_paths() -> None:
    text = ENVIRONMENT.replace("region: eu-west-1", "region: eu-west-1\n  replica: 2")
    text = text.replace("tier: staging", "tier: qa")
    issues = issues_of(text)
    by_path = {i.path: i.message for i in issues}
    assert set(by_path) == {"$.spec.replica", "$.spec.tier"}
    assert by_path["$.spec.replica"] == (
        "unknown field 'replica' (allowed: description, protected, region, tier)"
    )
    assert "'qa' is not one of" in by_path["$.spec.tier"]


def test_missing_required_field_path_names_the_field() -> None:
    text = "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers:\n  web: {command: [a]}\n"
    issue = only_issue(text)
    assert issue.path == "$.containers.web.image"
    assert issue.message == "missing required field 'image'"


def test_score_rejects_a_kind_field_and_bad_names() -> None:
    text = (
        "apiVersion: score.dev/v1b1\nkind: Workload\nmetadata: {name: Web_1}\n"
        "containers:\n  main: {image: x, variables: {A: [1]}}\n"
    )
    by_path = {i.path: i.message for i in issues_of(text)}
    assert set(by_path) == {"$.kind", "$.metadata.name", "$.containers.main.variables.A"}
    assert by_path["$.kind"].startswith("unknown field 'kind'")
    assert "not a valid name" in by_path["$.metadata.name"]
    assert by_path["$.containers.main.variables.A"] == (
        "expected string or number or boolean, got list"
    )


def test_score_file_needs_source_or_content() -> None:
    text = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers:\n"
        "  main:\n    image: x\n    files:\n      - {target: /a, content: x, source: y}\n"
    )
    issue = only_issue(text)
    assert issue.path == "$.containers.main.files[0]"
    assert issue.message == "needs exactly one of 'source', 'content'"


def test_errors_are_collected_across_documents() -> None:
    text = "\n---\n".join(
        [
            "apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: a, owner: x}",
            "apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: ok}",
            "apiVersion: plinth.dev/v1\nkind: Project\nmetadata: {name: p}\nspec: {}",
        ]
    )
    issues = issues_of(text, file="many.yaml")
    assert [(i.file, i.document, i.path) for i in issues] == [
        ("many.yaml", 0, "$.metadata.owner"),
        ("many.yaml", 2, "$.spec.team"),
    ]


def test_duplicate_kind_and_name_in_one_file() -> None:
    text = "apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: a}\n"
    issue = only_issue(text + "---\n" + text)
    assert (issue.document, issue.path) == (1, "$.metadata.name")
    assert issue.message == "duplicate Team 'a' (first defined in specs.yaml#0)"
    other = text.replace("Team", "Environment")
    assert len(load_documents(text + "---\n" + other)) == 2


def test_duplicate_keys_are_rejected_with_position() -> None:
    issue = only_issue("apiVersion: plinth.dev/v1\nkind: Team\nkind: Team\nmetadata: {name: a}\n")
    assert "found duplicate key 'kind'" in issue.message
    assert "line 3" in issue.message


def test_merge_keys_may_override() -> None:
    text = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers:\n"
        "  a: &base {image: x, args: [a]}\n  b:\n    <<: *base\n    args: [b]\n"
    )
    [doc] = load_documents(text)
    assert doc.raw["containers"]["b"] == {"image": "x", "args": ["b"]}


def test_non_string_keys() -> None:
    text = "apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: a}\nspec: {1: x}\n"
    issue = only_issue(text)
    assert (issue.path, issue.message) == ("$.spec['1']", "key 1 must be a string")


def test_alias_explosion_is_capped() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    issue = only_issue("\n".join(lines) + "\n")
    assert str(MAX_VALUES) in issue.message
    assert issue.path == "$"


def test_recursive_alias_is_rejected() -> None:
    issue = only_issue("apiVersion: plinth.dev/v1\nkind: Team\nmetadata: &m {name: a, x: *m}\n")
    assert "itself" in issue.message


def test_too_many_documents() -> None:
    text = "---\n".join(
        f"apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {{name: t{i}}}\n" for i in range(4)
    )
    with pytest.raises(SpecError) as info:
        load_documents(text, max_documents=3)
    assert info.value.issues[0].document == 3
    assert "too many documents" in info.value.issues[0].message


def test_invalid_timestamp_is_an_issue_not_a_crash() -> None:
    issue = only_issue("apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: 2001-13-45}\n")
    assert issue.message.startswith("invalid YAML")


def test_load_files_reports_missing_files_and_cross_file_duplicates(tmp_path: Path) -> None:
    team = "apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: a}\n"
    (tmp_path / "one.yaml").write_text(team)
    (tmp_path / "two.yaml").write_text(team)
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe\x00")
    missing = tmp_path / "missing.yaml"
    paths = [tmp_path / "one.yaml", missing, tmp_path / "two.yaml", tmp_path / "bad.yaml"]
    with pytest.raises(SpecError) as info:
        load_files(paths)
    issues = info.value.issues
    assert [(i.file, i.document) for i in issues] == [
        (str(missing), None),
        (str(tmp_path / "bad.yaml"), None),
        (str(tmp_path / "two.yaml"), 0),
    ]
    assert issues[0].message == "file not found"
    assert "first defined in" in issues[2].message


def assert_loads_or_spec_error(text: str) -> None:
    try:
        result = load_documents(text, file="fuzz.yaml")
    except SpecError as exc:
        assert exc.issues and all(isinstance(i, Issue) for i in exc.issues)
        return
    assert isinstance(result, list)
    assert all(isinstance(d, Document) for d in result)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
keys = st.sampled_from(
    ["apiVersion", "kind", "metadata", "spec", "name", "containers", "image", "resources"]
) | st.text(max_size=8)
trees = st.recursive(
    scalars
    | st.sampled_from(["plinth.dev/v1", "score.dev/v1b1", "Team", "Project", "Environment"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trees, min_size=1, max_size=3))
def test_fuzz_structures(documents: list[object]) -> None:
    assert_loads_or_spec_error(yaml.safe_dump_all(documents))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_fuzz_text(text: str) -> None:
    assert_loads_or_spec_error(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([*":-{}[]&*!|>'\"#%@`,? \n\tab1", "---\n", "  "]), max_size=60).map(
        "".join
    )
)
def test_fuzz_yaml_punctuation(text: str) -> None:
    assert_loads_or_spec_error(text)
