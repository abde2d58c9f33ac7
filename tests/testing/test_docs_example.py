"""The provider and the contract test that ``docs/providers.md`` shows work as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def test_the_notes_provider_of_the_docs_passes_the_kit(pytester: pytest.Pytester) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    provider, contract = blocks[0], blocks[1]
    assert "class NotesProvider" in provider and "class TestNotesContract" in contract
    pytester.makepyfile(plinth_notes=provider, test_notes_contract=contract)
    pytester.syspathinsert()
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=10, skipped=1)
