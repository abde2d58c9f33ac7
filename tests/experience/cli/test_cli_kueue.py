"""``plinth kueue render`` against the real API, in process."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import typer
import yaml
from tests.experience.api.gpus_support import GpusApi, gpus_api
from tests.experience.api.janitor_support import forwarding
from tests.infrastructure.providers.kubernetes.schema_check import crd_errors
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import world
from typer.testing import CliRunner, Result

from plinth.experience.cli.context import CliState
from plinth.experience.cli.kueue import kueue_app

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["gpus_api", "world"]  # fixtures used by this module

Invoke = Callable[..., Result]


@pytest.fixture
def cli(gpus_api: GpusApi, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``plinth kueue ...`` as a user, through the in-process API."""
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    root = typer.Typer()
    root.add_typer(kueue_app, name="kueue")
    transport = forwarding(gpus_api.client)

    def run(user: str, *args: str) -> Result:
        token = gpus_api.world.tokens[user]
        state = CliState(url="http://testserver", token=token, transport=transport)
        return CliRunner().invoke(root, list(args), obj=state)

    return run


def test_render_prints_a_table_yaml_documents_and_a_json_list(cli: Invoke) -> None:
    shown = cli("lee", "kueue", "render")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert any("ClusterQueue" in line and "ml-research" in line for line in lines)
    assert any("LocalQueue" in line and "-> payments" in line for line in lines)
    documents = list(yaml.safe_load_all(cli("lee", "kueue", "render", "-o", "yaml").stdout))
    assert {d["kind"] for d in documents} == {
        "ResourceFlavor",
        "Cohort",
        "ClusterQueue",
        "LocalQueue",
    }
    for document in documents:
        assert crd_errors(document) == []
    listed = json.loads(cli("lee", "kueue", "render", "--output", "json").stdout)
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    assert listed["items"] == documents


def test_the_api_pages_the_objects(gpus_api: GpusApi) -> None:
    headers = gpus_api.as_user("lee")
    first = gpus_api.client.get("/api/v1/accelerators/kueue?limit=2", headers=headers).json()
    assert len(first["items"]) == 2 and first["next_page_token"]
    unsigned = gpus_api.client.get("/api/v1/accelerators/kueue")
    assert unsigned.status_code == 401
