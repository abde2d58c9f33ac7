"""Settings: the portal's demo login and the LLM upstream come from PLINTH_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from plinth.core.config import load_settings
from plinth.orchestration.seed_llm import llm_upstream_url


@pytest.mark.parametrize(
    ("raw", "expected"), [("false", False), ("0", False), ("true", True), ("1", True)]
)
def test_portal_demo_login_parses_like_the_other_booleans(
    tmp_path: Path, raw: str, expected: bool
) -> None:
    environ = {"PLINTH_DATA_DIR": str(tmp_path), "PLINTH_PORTAL_DEMO_LOGIN": raw}
    assert load_settings(environ=environ).portal_demo_login is expected


def test_portal_demo_login_is_unset_by_default(tmp_path: Path) -> None:
    environ = {"PLINTH_DATA_DIR": str(tmp_path), "PLINTH_PORTAL_DEMO_LOGIN": ""}
    assert load_settings(environ=environ).portal_demo_login is None


def test_llm_upstream_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLINTH_LLM_UPSTREAM_URL", raising=False)
    url = "http://127.0.0.1:8790/v1"
    settings = load_settings(
        environ={"PLINTH_DATA_DIR": str(tmp_path), "PLINTH_LLM_UPSTREAM_URL": url}
    )
    assert settings.llm_upstream_url == url
    assert llm_upstream_url(settings) == url
    assert llm_upstream_url(load_settings(environ={"PLINTH_DATA_DIR": str(tmp_path)})) == ""
