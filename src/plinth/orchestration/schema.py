"""Every table of the platform, imported in one place so ``Base.metadata`` is complete.

Migrations (``infrastructure/store/migrations``) must build exactly these tables;
a test compares them.
"""

from __future__ import annotations

import plinth.capabilities.accelerators.tables
import plinth.capabilities.agents.models
import plinth.capabilities.audit.models
import plinth.capabilities.compliance.models
import plinth.capabilities.finops.janitor_models
import plinth.capabilities.finops.metering_models
import plinth.capabilities.finops.models
import plinth.capabilities.identity.models
import plinth.capabilities.inventory.models
import plinth.capabilities.models.models
import plinth.capabilities.snapshots.models
import plinth.integration.events.models
import plinth.orchestration.llm_gateway.models
import plinth.orchestration.mcp_gateway.models
import plinth.orchestration.records  # noqa: F401 - imported for their tables
from plinth.infrastructure.store.db import Base

__all__ = ["metadata"]

metadata = Base.metadata
