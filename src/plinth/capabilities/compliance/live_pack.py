"""The built-in ``compliance-live`` pack: rules only live state can break.

It is evaluated by every compliance scan next to the organisation's packs. Its one rule,
``drift``, denies a resource whose live state no longer matches what the platform
applied (someone changed or removed it behind the platform's back), and names the
``restore`` remediation: the reconciler re-applies the desired state.
"""

from __future__ import annotations

from plinth.capabilities.policy.model import Pack

__all__ = ["LIVE_PACK", "LIVE_PACK_NAME", "LIVE_REGO"]

LIVE_PACK_NAME = "compliance-live"

LIVE_REGO = """package plinth.compliance.live

import rego.v1

deny contains finding if {
	input.kind == "live"
	some r in input.resources
	r.drift
	r.exists
	what := "was changed outside the platform and no longer matches its desired state"
	finding := {
		"rule": "drift",
		"resource": r.name,
		"severity": "high",
		"msg": concat(" ", [r.type, r.name, what]),
		"fix": "change it through a plan; the platform restores the desired state",
		"remediation": "restore",
	}
}

deny contains finding if {
	input.kind == "live"
	some r in input.resources
	r.drift
	not r.exists
	finding := {
		"rule": "drift",
		"resource": r.name,
		"severity": "high",
		"msg": concat(" ", [r.type, r.name, "was removed outside the platform"]),
		"fix": "delete it through a plan; the platform recreates it otherwise",
		"remediation": "restore",
	}
}
"""

LIVE_PACK = Pack(
    name=LIVE_PACK_NAME,
    version="1.0.0",
    modules={"live.rego": LIVE_REGO},
    description="Rules of live state: drift from the desired state is restored",
    source="builtin",
)
