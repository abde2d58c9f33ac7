"""Shared fixtures: the built-in templates, parsed."""

from __future__ import annotations

import pytest

from plinth.capabilities.templates import TemplateVersion, builtin_templates


@pytest.fixture(scope="session")
def builtins() -> dict[tuple[str, str], TemplateVersion]:
    """Every built-in template version, keyed by (name, version)."""
    parsed = [TemplateVersion.from_document(doc) for doc in builtin_templates()]
    return {(t.name, t.version): t for t in parsed}


@pytest.fixture()
def web_100(builtins: dict[tuple[str, str], TemplateVersion]) -> TemplateVersion:
    """web-service 1.0.0."""
    return builtins[("web-service", "1.0.0")]


@pytest.fixture()
def web_110(builtins: dict[tuple[str, str], TemplateVersion]) -> TemplateVersion:
    """web-service 1.1.0."""
    return builtins[("web-service", "1.1.0")]
