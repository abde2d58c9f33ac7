"""Test kits that ship with Plinth, for Plinth's own tests and for third-party plugins.

``plinth.testing.provider_contract`` holds the provider contract kit: a pytest
class that any provider's test module subclasses to check that the provider keeps
every rule of ``plinth.infrastructure.providers.base``. See that module's
docstring, or ``docs/providers.md``, for how to use it.

The kit needs ``pytest`` (a test dependency, not a runtime one) and imports only
the infrastructure and core layers.
"""

from __future__ import annotations

import pytest

# Rich assertion messages in the kit's checks, as in the tests that subclass it.
pytest.register_assert_rewrite("plinth.testing.provider_contract")

from plinth.testing.provider_contract import (  # noqa: E402
    ProviderContract,
    RemoveHook,
    Sample,
    TemporaryFailureHook,
    WorldCheck,
)

__all__ = ["ProviderContract", "RemoveHook", "Sample", "TemporaryFailureHook", "WorldCheck"]
