"""Authorization with Cedar, for humans and agents alike.

Policies ship as package data (``cedar/default.cedar``); platform engineers add
``AuthorizationPolicy`` documents, merged as extra policy sets. ``Authorizer.decide``
answers allow, needs_approval or deny with the policies that determined it and their
reasons.
"""

from __future__ import annotations

from plinth.capabilities.authz.engine import Authorizer, authorizer_for
from plinth.capabilities.authz.requests import (
    ORG_KINDS,
    approve_request,
    change_request,
    read_request,
    tool_granted,
    tool_request,
)
from plinth.capabilities.authz.schemas import AuthzDecision, AuthzRequest, PolicyInfo

__all__ = [
    "ORG_KINDS",
    "Authorizer",
    "AuthzDecision",
    "AuthzRequest",
    "PolicyInfo",
    "approve_request",
    "authorizer_for",
    "change_request",
    "read_request",
    "tool_granted",
    "tool_request",
]
