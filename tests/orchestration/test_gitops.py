"""GitOps: desired state to a real git repository and back, through the one path."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.errors import InvalidInput, NotFound, SpecError
from plinth.core.ids import SequentialIds
from plinth.orchestration.gitops import desired_state, path_of, read_tree, render_tree
from plinth.orchestration.gitops_git import commit_tree, read_ref
from plinth.orchestration.gitops_sync import Commit, sync_tree
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform
from tests.fakes.provider import registry_with_fake
from tests.orchestration.conftest import World
from tests.orchestration.specs import application, audit_actions, workload

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORG = """\
apiVersion: plinth.dev/v1
kind: Team
metadata: {name: orders}
spec: {description: Orders, members: [{user: ada}]}
---
apiVersion: plinth.dev/v1
kind: Project
metadata: {name: shop}
spec: {team: orders}
"""


def apply(world: World, documents: str, *, env: str = "dev", project: str | None = None) -> None:
    """Plan and apply documents as pat (a platform engineer)."""
    pat = world.actor("pat")
    request = PlanRequest(environment=env, project=project, documents=documents, file="t.yaml")
    plan = world.platform.plan(pat, request)
    assert world.platform.apply(pat, plan["digest"])["status"] == "applied"


def tree_of(platform: Platform) -> dict[str, str]:
    """Return the rendered desired state of a platform."""
    with platform.db.read() as session:
        return render_tree(desired_state(session))


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Platform]:
    """A second, empty (seeded) platform on its own SQLite store."""
    registry, _ = registry_with_fake()
    settings = Settings(data_dir=tmp_path / "fresh", reconcile_interval_s=0.2)
    platform = Platform(settings, clock=FrozenClock(NOW), ids=SequentialIds(), registry=registry)
    platform.prepare()
    try:
        yield platform
    finally:
        platform.stop()


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its output."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_export_sync_rebuilds_the_same_desired_state(
    world: World, fresh: Platform, tmp_path: Path
) -> None:
    apply(world, ORG)
    apply(world, workload("web"), project="shop")
    repo = tmp_path / "repo"
    sha = commit_tree(repo, tree_of(world.platform), version="0.1.0", now=NOW)
    assert sha is not None and "plinth 0.1.0" in git(repo, "log", "-1", "--format=%s")
    assert "environments/dev/shop/workloads/web.yaml" in git(repo, "ls-files")
    tree = read_ref(repo)
    assert tree.sha == sha
    pat = fresh.actor("pat")
    commit = Commit(tree.sha, "2026-11-28T11:00:00+00:00")  # the frozen clock's past
    report = sync_tree(fresh, pat, tree.files, source="git", commit=commit)
    assert report.status == "applied" and len(report.applied) == 2
    assert tree_of(fresh) == tree_of(world.platform)
    assert audit_actions(fresh).count("plan.commit") == 2
    again = sync_tree(fresh, pat, tree.files, source="git")
    assert again.applied == []
    assert commit_tree(repo, tree_of(fresh), version="0.1.0", now=NOW) is None


def test_documents_are_sorted_files_without_rendered_workloads(world: World) -> None:
    apply(world, ORG)
    tree = tree_of(world.platform)
    assert tree["teams/orders.yaml"].startswith("apiVersion: plinth.dev/v1\nkind: Team\n")
    assert "environments/dev.yaml" in tree and "teams/payments.yaml" in tree
    assert any(p.startswith("templates/web-service@") for p in tree)
    with world.platform.db.read() as session:
        paths = [path_of(d) for d in desired_state(session)]
    assert paths == sorted(paths)


def test_invalid_files_are_named_and_nothing_is_applied(fresh: Platform) -> None:
    files = {
        "teams/orders.yaml": ORG.split("---\n")[0],
        "projects/shop.yaml": "apiVersion: plinth.dev/v1\nkind: Project\nmetadata: {name: shop}\n",
        "teams/wrong.yaml": ORG.split("---\n")[1],
        "environments/dev/shop/workloads/web.yaml": workload("web").replace("image", "imagez"),
        "stray/deep/file.yaml": "a: 1\n",
        "README.md": "not yaml",
    }
    before = tree_of(fresh)
    with pytest.raises(SpecError) as caught:
        sync_tree(fresh, fresh.actor("pat"), files, source="git")
    where = {(i.file, i.path) for i in caught.value.issues}
    assert ("projects/shop.yaml", "$.spec") in where
    assert ("teams/wrong.yaml", "$.kind") in where
    assert ("stray/deep/file.yaml", "$") in where
    assert any(f == "environments/dev/shop/workloads/web.yaml" for f, _ in where)
    assert tree_of(fresh) == before


def test_a_plan_error_names_the_file_it_came_from(fresh: Platform) -> None:
    files = {
        "teams/orders.yaml": ORG.split("---\n")[0],
        "projects/shop.yaml": ORG.split("---\n")[1].replace("team: orders", "team: ghosts"),
    }
    before = tree_of(fresh)
    with pytest.raises(SpecError) as caught:
        sync_tree(fresh, fresh.actor("pat"), files, source="git")
    (issue,) = caught.value.issues
    assert (issue.file, issue.document, issue.path) == ("projects/shop.yaml", 0, "$.spec.team")
    assert tree_of(fresh) == before


def test_dry_run_plans_and_applies_nothing(world: World) -> None:
    files = {"teams/orders.yaml": ORG.split("---\n")[0]}
    report = sync_tree(world.platform, world.actor("pat"), files, source="git", dry_run=True)
    assert report.dry_run and report.applied == [] and len(report.plans) == 1
    assert "teams/orders.yaml" not in tree_of(world.platform)


def test_hand_written_files_without_a_final_newline_are_planned(world: World) -> None:
    team, project = ORG.split("---\n")
    files = {"teams/orders.yaml": "---\n" + team.rstrip(), "projects/shop.yaml": project.rstrip()}
    report = sync_tree(world.platform, world.actor("pat"), files, source="git", dry_run=True)
    (plan,) = report.plans
    assert sorted(c["name"] for c in plan["changes"] if c["action"] == "create") == [
        "orders",
        "shop",
    ]


def test_a_plan_waiting_for_approval_stops_the_sync_before_anything_is_applied(
    world: World,
) -> None:
    files = {
        "environments/dev/checkout/workloads/web.yaml": workload("web"),
        "environments/staging/checkout/applications/shop.yaml": application("shop", memory="2Gi"),
    }
    before = tree_of(world.platform)
    report = sync_tree(world.platform, world.actor("ada"), files, source="git")
    assert report.status == "waiting_approval" and report.applied == []
    assert [p["status"] for p in report.plans] == ["planned", "needs_approval"]
    assert any("needs approval" in note for note in report.notes)
    assert tree_of(world.platform) == before  # the allowed plan was not applied either


def test_prune_deletes_workloads_that_left_git(world: World) -> None:
    apply(world, ORG)
    apply(world, workload("web") + "---\n" + workload("api", db=None), project="shop")
    everything = tree_of(world.platform)
    sync_tree(world.platform, world.actor("pat"), everything, source="git")  # seeded rows: stored
    files = {p: t for p, t in everything.items() if not p.endswith("workloads/api.yaml")}
    kept = sync_tree(world.platform, world.actor("pat"), files, source="git")
    assert "environments/dev/shop/workloads/api.yaml" in tree_of(world.platform)
    assert kept.applied == []
    pruned = sync_tree(world.platform, world.actor("pat"), files, source="git", prune=True)
    assert len(pruned.applied) == 1
    assert "environments/dev/shop/workloads/api.yaml" not in tree_of(world.platform)
    assert "environments/dev/shop/workloads/web.yaml" in tree_of(world.platform)


def test_versions_of_one_template_are_planned_apart(world: World) -> None:
    tree = read_tree(tree_of(world.platform))
    rounds = [[f.path for f in r] for r in tree.organisation]
    assert len(rounds) >= 2
    assert all(len({p.split("@")[0] for p in r}) == len(r) for r in rounds)


def test_git_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a git repository"):
        read_ref(tmp_path)
    repo = tmp_path / "repo"
    commit_tree(repo, {"teams/a.yaml": "x: 1\n"}, version="0.1.0", now=NOW)
    with pytest.raises(NotFound, match="no commit 'nope'"):
        read_ref(repo, "nope")
    (repo / "teams" / "a.yaml").write_text("x: 2\n")
    (repo / "teams" / "b.yaml").write_text("x: 3\n")
    assert read_ref(repo).files == {"teams/a.yaml": "x: 1\n"}  # never the working tree
    with pytest.raises(InvalidInput, match="uncommitted changes"):
        commit_tree(repo, {"teams/a.yaml": "x: 1\n"}, version="0.1.0", now=NOW)


def test_export_removes_files_of_documents_that_are_gone(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = commit_tree(repo, {"teams/a.yaml": "a\n", "teams/b.yaml": "b\n"}, version="1", now=NOW)
    second = commit_tree(repo, {"teams/a.yaml": "a\n"}, version="1", now=NOW)
    assert first and second and first != second
    assert read_ref(repo).files == {"teams/a.yaml": "a\n"}
    assert read_ref(repo, first).files["teams/b.yaml"] == "b\n"


def test_hidden_folders_such_as_github_workflows_are_left_alone(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit_tree(repo, {"teams/a.yaml": "a\n"}, version="1", now=NOW)
    ci = repo / ".github" / "workflows" / "ci.yaml"
    ci.parent.mkdir(parents=True)
    ci.write_text("on: push\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ci")
    commit_tree(repo, {"teams/a.yaml": "b\n"}, version="1", now=NOW)
    assert ci.read_text() == "on: push\n"  # the export never removes it
    assert read_ref(repo).files == {"teams/a.yaml": "b\n"}  # and a sync never reads it
    assert read_tree({".github/workflows/ci.yaml": "on: push\n"}).organisation == []


def test_expired_policy_exceptions_are_not_exported(world: World) -> None:
    apply(
        world,
        """\
apiVersion: plinth.dev/v1
kind: PolicyException
metadata: {name: web-keeps-its-image}
spec:
  rule: no-app-images/withdrawn-image
  resources: [web]
  owner: payments
  justification: the replacement image ships next sprint
  expires: "2026-12-05T00:00:00Z"
""",
    )
    with world.platform.db.read() as session:
        now = desired_state(session, now=NOW)
        later = desired_state(session, now=datetime(2026, 12, 6, tzinfo=UTC))
    assert ("PolicyException", "web-keeps-its-image") in {(d.kind, d.name) for d in now}
    assert "PolicyException" not in {d.kind for d in later}
