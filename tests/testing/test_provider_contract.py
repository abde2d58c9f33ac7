"""The contract kit passes an honest provider and catches each broken rule, by name."""

from __future__ import annotations

import pytest

from tests.testing.flawed import FLAWS

pytest_plugins = ("pytester",)

HEADER = """
import pytest

from plinth.testing import ProviderContract, Sample
from tests.testing.flawed import THING, FlawedProvider
"""

CLASS = """

class Test_{key}(ProviderContract):
    samples = [Sample(THING, invalid_spec={{"size": "big"}})]

    @pytest.fixture
    def provider(self):
        return FlawedProvider({flaw!r})

    @pytest.fixture
    def world(self, provider):
        return lambda resource: len(provider.world.get(resource.id) or [])

    @pytest.fixture
    def remove_behind_back(self, provider):
        return lambda resource: provider.world.pop(resource.id, None) is not None
"""

ALL = {
    "test_resource_types_are_json_schemas",
    "test_sample_matches_its_schema",
    "test_plan_has_no_side_effects",
    "test_apply_is_idempotent",
    "test_apply_after_a_crash_adopts",
    "test_observe_reflects_reality",
    "test_destroy_leaves_nothing",
    "test_invalid_spec_is_refused",
    "test_unknown_type_is_refused",
    "test_secrets_stay_out_of_state_and_messages",
}
BROKEN = {
    "none": set(),
    "duplicates": {"test_apply_is_idempotent", "test_apply_after_a_crash_adopts"},
    "untyped": {"test_invalid_spec_is_refused"},
    "plan-creates": {"test_plan_has_no_side_effects"},
    "forgets": {"test_observe_reflects_reality"},
}


@pytest.fixture
def failures(pytester: pytest.Pytester) -> tuple[dict[str, set[str]], str]:
    """Run the kit once against one class per flaw; return failed tests per flaw and output."""
    source = HEADER + "".join(CLASS.format(key=flaw.replace("-", "_"), flaw=flaw) for flaw in FLAWS)
    pytester.makepyfile(test_kit=source)
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-rf")
    failed: dict[str, set[str]] = {flaw: set() for flaw in FLAWS}
    for line in result.outlines:
        if line.startswith("FAILED test_kit.py::Test_"):
            klass, test = line.split("::")[1:3]
            flaw = klass.removeprefix("Test_").replace("_", "-")
            failed[flaw].add(test.split("[")[0])
    return failed, "\n".join(result.outlines)


def test_each_flaw_fails_exactly_its_rule(failures: tuple[dict[str, set[str]], str]) -> None:
    failed, output = failures
    for flaw, expected in BROKEN.items():
        assert failed[flaw] == expected, f"{flaw}:\n{output}"
        assert failed[flaw] <= ALL
    assert "raised ValueError: size is not a number" in output
    assert "test_secrets_stay_out_of_state_and_messages" in failed["leaks"]
    assert "a secret value appears in Observation.state" in output


def test_every_flaw_is_covered() -> None:
    assert set(FLAWS) == set(BROKEN) | {"leaks"}
