"""Only the providers a control plane names are imported; a broken one is named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from plinth.core.errors import InvalidInput
from plinth.infrastructure.providers.base import ProviderContext
from plinth.infrastructure.providers.registry import ProviderRegistry, discover_providers
from tests.experience.api.test_routes_providers import install_plugins


def _context(tmp_path: Path) -> ProviderContext:
    return ProviderContext(data_dir=tmp_path / "data", secret_key=b"k" * 32)


def test_a_broken_plugin_that_is_not_enabled_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugins(tmp_path / "site", monkeypatch)
    registry = ProviderRegistry.from_entry_points(_context(tmp_path), ["extra"])
    assert [p.name for p in registry.providers()] == ["fake"]
    assert set(discover_providers(["extra"])) == {"extra"}


def test_a_broken_plugin_that_is_named_fails_with_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugins(tmp_path / "site", monkeypatch)
    with pytest.raises(InvalidInput, match=r"'broken'.*plinth_no_such_plugin_module"):
        ProviderRegistry.from_entry_points(_context(tmp_path), ["broken"])


def test_an_unknown_provider_lists_what_is_installed(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"unknown provider 'nope'; installed: .*'local'"):
        ProviderRegistry.from_entry_points(_context(tmp_path), ["nope"])
