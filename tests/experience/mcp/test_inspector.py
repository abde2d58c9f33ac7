"""The MCP server seen by the official MCP Inspector CLI (``npx @modelcontextprotocol/inspector``).

The Inspector is looked up in the npm cache dir CI installs it into
(``.cache/npm``, ``npm install --prefix .cache/npm @modelcontextprotocol/inspector@VERSION``);
otherwise ``npx -y`` fetches it. The tests skip only when ``npx`` is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.experience.mcp.test_server import TOOLS, Served
from tests.experience.mcp.test_server import served as served  # the fixture

INSPECTOR_VERSION = "2.12.0"
REPO = Path(__file__).resolve().parents[3]
CACHED = REPO / ".cache" / "npm" / "node_modules" / ".bin" / "mcp-inspector"

pytestmark = pytest.mark.skipif(
    shutil.which("npx") is None and not CACHED.exists(),
    reason="npx (Node.js) is not installed: the MCP Inspector CLI cannot run",
)


def inspector(
    served: Served, *args: str, token: str | None, home: Path
) -> subprocess.CompletedProcess[str]:
    """Run the Inspector CLI against ``/mcp`` (its state under ``home``), return what it did."""
    command = (
        [str(CACHED)]
        if CACHED.exists()
        else ["npx", "-y", f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}"]
    )
    headers = ["--header", f"Authorization: Bearer {token}"] if token else []
    return subprocess.run(
        [
            *command,
            "--cli",
            served.mcp,
            "--transport",
            "http",
            "--stored-auth-only",
            *headers,
            *args,
        ],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def _env(home: Path) -> dict[str, str]:
    # The Inspector keeps a catalog and OAuth state under $HOME: keep them in the test's dir,
    # and npm's download cache where it was.
    npm_cache = os.environ.get("NPM_CONFIG_CACHE") or str(Path.home() / ".npm")
    return {**os.environ, "HOME": str(home), "NPM_CONFIG_CACHE": npm_cache}


def output(done: subprocess.CompletedProcess[str]) -> Any:
    """Return the JSON the Inspector printed, failing with its stderr otherwise."""
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_inspector_lists_the_tools_with_their_annotations(served: Served, tmp_path: Path) -> None:
    tools = {
        t["name"]: t
        for t in output(
            inspector(served, "--method", "tools/list", token=served.token, home=tmp_path)
        )["tools"]
    }
    assert set(tools) == TOOLS
    assert tools["apply"]["annotations"]["destructiveHint"] is True
    assert tools["get_status"]["annotations"]["readOnlyHint"] is True


def test_inspector_calls_a_tool(served: Served, tmp_path: Path) -> None:
    done = inspector(
        served,
        "--method",
        "tools/call",
        "--tool-name",
        "describe_template",
        "--tool-arg",
        "name=web-service",
        token=served.token,
        home=tmp_path,
    )
    result = output(done)
    assert not result.get("isError"), result
    assert result["structuredContent"]["name"] == "web-service"


def test_inspector_without_a_token_is_refused(served: Served, tmp_path: Path) -> None:
    done = inspector(served, "--method", "tools/list", token=None, home=tmp_path)
    assert done.returncode != 0
    assert "auth_required" in done.stderr, done.stderr + done.stdout
